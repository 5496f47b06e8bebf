"""Bad input fails at construction with a message naming the argument and the value; the URL and
interval generators have the documented semantics."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta, timezone

import pendulum
import pytest

from airflow_provider_bulk_uploader import (
    ListStore,
    Ratelimit,
    UploadedData,
    days_intervals,
    id_iterator,
    loading_urls,
)

# ---- Ratelimit ------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, -1])
def test_ratelimit_rejects_non_positive_num_requests(n):
    with pytest.raises(ValueError, match=rf"num_requests.*{n}"):
        Ratelimit(n)


@pytest.mark.parametrize("period", [timedelta(0), timedelta(seconds=-1), timedelta(microseconds=-1)])
def test_ratelimit_rejects_zero_or_negative_period(period):
    with pytest.raises(ValueError, match="period") as info:
        Ratelimit(5, period)
    assert str(period) in str(info.value)


def test_ratelimit_accepts_a_valid_quota():
    rate = Ratelimit(10, timedelta(seconds=2))
    assert (rate.num_requests, rate.period_seconds, rate.requests_per_second) == (10, 2.0, 5.0)
    assert Ratelimit(3).period == timedelta(seconds=1)


# ---- UploadedData ---------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [0, -3])
def test_max_concurrency_below_one_is_rejected(value):
    with pytest.raises(ValueError, match=rf"max_concurrency.*{value}"):
        UploadedData(ListStore(), url_maker=["http://127.0.0.1/x"], max_concurrency=value)


def test_batch_size_below_one_is_rejected():
    with pytest.raises(ValueError, match=r"batch_size.*0"):
        UploadedData(ListStore(), url_maker=["http://127.0.0.1/x"], batch_size=0)


def test_url_without_scheme_in_a_list_fails_at_construction():
    with pytest.raises(ValueError, match=r"url_maker.*api\.example\.com/items/1"):
        UploadedData(ListStore(), url_maker=["api.example.com/items/1", "https://api.example.com/items/2"])


def test_url_without_scheme_in_a_generator_fails_at_construction():
    consumed = []

    def urls():
        for i in range(1_000_000):
            consumed.append(i)
            yield f"api.example.com/items/{i}"

    with pytest.raises(ValueError, match=r"url_maker.*api\.example\.com/items/0"):
        UploadedData(ListStore(), url_maker=urls())
    assert consumed == [0]  # only the first URL was looked at


@pytest.mark.parametrize("container", [list, tuple])
def test_every_url_of_a_list_or_tuple_is_checked_at_construction(container):
    urls = container(["https://api.example.com/1", "https://api.example.com/2", "api.example.com/3"])
    with pytest.raises(ValueError, match=r"url_maker\[2\].*'api.example.com/3'"):
        UploadedData(ListStore(), url_maker=urls)


def test_generator_is_not_consumed_at_construction():
    consumed = []

    def urls():
        for i in itertools.count():
            consumed.append(i)
            yield f"http://127.0.0.1:1/items/{i}"

    UploadedData(ListStore(), url_maker=urls())  # an endless generator: must return at once
    assert consumed == [0]


def test_a_secret_in_a_bad_url_is_redacted_from_the_error():
    with pytest.raises(ValueError) as info:
        UploadedData(ListStore(), url_maker=["ftp://host/x?api_key=hunter2-very-secret"])
    assert "hunter2-very-secret" not in str(info.value)
    assert "url_maker" in str(info.value)


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
