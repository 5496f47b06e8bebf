"""id_iterator, loading_urls and days_intervals."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta, timezone

import pendulum
import pytest

from airflow_provider_bulk_uploader import (
    days_intervals,
    id_iterator,
    loading_urls,
)

# ---- id_iterator ----------------------------------------------------------------------------------


def test_id_iterator_is_range_like():
    assert list(id_iterator(1, 100)) == list(range(1, 100))
    ids = list(id_iterator(1, 100))
    assert (ids[0], ids[-1], len(ids)) == (1, 99, 99)
    assert list(id_iterator(0, 10, 3)) == [0, 3, 6, 9]
    assert list(id_iterator(10, 0, -4)) == [10, 6, 2]
    assert list(id_iterator(5, 5)) == []
    assert len(id_iterator(0, 10**12)) == 10**12  # lazy: no list of a trillion ints


def test_id_iterator_step_zero_is_rejected():
    with pytest.raises(ValueError, match=r"step.*0"):
        id_iterator(1, 10, 0)


# ---- loading_urls ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "base",
    ["https://api.example.com/items", "https://api.example.com/items/", "https://api.example.com/items//"],
)
def test_loading_urls_joins_with_exactly_one_slash(base):
    urls = list(loading_urls(base, [1, "/2", "//3", "abc"]))
    assert urls == [
        "https://api.example.com/items/1",
        "https://api.example.com/items/2",
        "https://api.example.com/items/3",
        "https://api.example.com/items/abc",
    ]


def test_loading_urls_is_sized_and_lazy():
    urls = loading_urls("https://api.example.com/items", id_iterator(1, 100))
    assert len(urls) == 99
    assert next(iter(urls)) == "https://api.example.com/items/1"
    assert list(urls) == list(urls)  # re-iterable over a range

    consumed = []

    def ids():
        for i in itertools.count():
            consumed.append(i)
            yield i

    first_two = list(itertools.islice(loading_urls("https://x.test/i", ids()), 2))
    assert first_two == ["https://x.test/i/0", "https://x.test/i/1"] and consumed == [0, 1]


def test_loading_urls_requires_an_absolute_base():
    with pytest.raises(ValueError, match=r"base.*api\.example\.com"):
        loading_urls("api.example.com/items", [1])


# ---- days_intervals -------------------------------------------------------------------------------


def _assert_half_open_cover(chunks, start, end, delta):
    assert chunks, "expected at least one chunk"
    assert chunks[0][0] == start and chunks[-1][1] == end
    for (_a, b), (c, _d) in itertools.pairwise(chunks):
        assert b == c, "chunks must be contiguous (each end is the next start)"
    for a, b in chunks:
        assert a < b <= a + delta


def test_days_intervals_for_dates_is_contiguous_half_open_and_clipped():
    chunks = list(days_intervals(date(2024, 1, 1), date(2024, 1, 31), delta_days=7))
    assert chunks == [
        (date(2024, 1, 1), date(2024, 1, 8)),
        (date(2024, 1, 8), date(2024, 1, 15)),
        (date(2024, 1, 15), date(2024, 1, 22)),
        (date(2024, 1, 22), date(2024, 1, 29)),
        (date(2024, 1, 29), date(2024, 1, 31)),
    ]
    _assert_half_open_cover(chunks, date(2024, 1, 1), date(2024, 1, 31), timedelta(days=7))


def test_days_intervals_daily_and_empty():
    assert list(days_intervals(date(2024, 2, 28), date(2024, 3, 2))) == [
        (date(2024, 2, 28), date(2024, 2, 29)),
        (date(2024, 2, 29), date(2024, 3, 1)),
        (date(2024, 3, 1), date(2024, 3, 2)),
    ]
    assert list(days_intervals(date(2024, 1, 1), date(2024, 1, 1))) == []


def test_days_intervals_for_pendulum_datetimes_keeps_timezone():
    start = pendulum.datetime(2024, 3, 29, 6, 30, tz="Europe/Berlin")  # crosses the DST switch on 31 March
    end = pendulum.datetime(2024, 4, 3, 0, 0, tz="Europe/Berlin")
    chunks = list(days_intervals(start, end, delta_days=2))
    assert len(chunks) == 3
    _assert_half_open_cover(chunks, start, end, timedelta(days=2, hours=1))
    for a, b in chunks:
        assert a.tzinfo is not None and b.tzinfo is not None
    assert chunks[-1][1] == end


def test_days_intervals_for_aware_stdlib_datetimes():
    start = datetime(2024, 1, 1, 12, tzinfo=timezone.utc)
    end = datetime(2024, 1, 3, 18, tzinfo=timezone.utc)
    chunks = list(days_intervals(start, end))
    assert chunks == [
        (start, start + timedelta(days=1)),
        (start + timedelta(days=1), start + timedelta(days=2)),
        (start + timedelta(days=2), end),
    ]


@pytest.mark.parametrize("delta", [0, -1])
def test_days_intervals_rejects_delta_below_one(delta):
    with pytest.raises(ValueError, match=rf"delta_days.*{delta}"):
        days_intervals(date(2024, 1, 1), date(2024, 2, 1), delta_days=delta)


def test_days_intervals_rejects_end_before_start_eagerly():
    with pytest.raises(ValueError, match=r"2023-12-31.*2024-01-01|2024-01-01.*2023-12-31"):
        days_intervals(date(2024, 1, 1), date(2023, 12, 31))  # raises on the call, not on iteration


def test_days_intervals_rejects_mixing_naive_and_aware():
    with pytest.raises(TypeError):
        days_intervals(datetime(2024, 1, 1), datetime(2024, 1, 2, tzinfo=timezone.utc))
