"""Bad input fails at construction with a message naming the argument and the value; the URL and
interval generators have the documented semantics."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from airflow_provider_bulk_uploader import (
    ListStore,
    Ratelimit,
    UploadedData,
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
