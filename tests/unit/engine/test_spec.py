"""``FetchSpec``: every setting checked and defaulted once, immutable, and the derived values (concurrency,
the rate-limit description) computed in one place for the run and the log lines alike."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from datetime import timedelta

import pytest

from airflow_provider_bulk_uploader import FetchSpec, ListStore, Ratelimit, UploadedData
from airflow_provider_bulk_uploader.engine import defaults
from airflow_provider_bulk_uploader.engine.pagination import CursorPaginator, SinglePagePaginator
from airflow_provider_bulk_uploader.engine.spec import NOT_GIVEN


def test_defaults_come_from_the_defaults_module():
    spec = FetchSpec()
    assert (spec.max_concurrency, spec.timeout, spec.batch_size) == (
        defaults.MAX_CONCURRENCY,
        defaults.TIMEOUT_SECONDS,
        defaults.BATCH_SIZE,
    )
    assert spec.rate_limit is None and spec.describe_rate_limit() == "none" and not spec.shared


def test_it_is_immutable_and_replace_validates_again():
    spec = FetchSpec(max_concurrency=8)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.max_concurrency = 9  # type: ignore[misc]
    assert spec.replace(max_concurrency=4).max_concurrency == 4 and spec.max_concurrency == 8
    with pytest.raises(ValueError, match="max_concurrency must be an int >= 1, <= 4096, got 0"):
        spec.replace(max_concurrency=0)
    assert spec.replace(max_concurrency=NOT_GIVEN) is spec  # not given: nothing changes


@pytest.mark.parametrize(
    ("settings", "error", "text"),
    [
        ({"timeout": float("inf")}, ValueError, "timeout must be a finite number of seconds > 0, got inf"),
        ({"batch_size": 0}, ValueError, "batch_size must be an int >= 1, got 0"),
        ({"verify_ssl": "false"}, TypeError, "verify_ssl must be True or False, got str 'false'"),
        ({"headers": {"X-A": None}}, TypeError, "headers['X-A'] must be a string"),
        (
            {"http_backend": "curl"},
            ValueError,
            "http_backend must be one of ('aiohttp', 'httpx'), got 'curl'",
        ),
        ({"rate_limit": 10}, TypeError, "rate_limit must be a Ratelimit or None, got 10"),
        (
            {"rate_limit_scope": "global"},
            ValueError,
            "rate_limit_scope must be one of task, shared, got 'global'",
        ),
        ({"rate_limit_scope": "shared"}, ValueError, "'shared' needs a rate_limit"),
        (
            {"rate_limit_scope": "shared", "rate_limit": Ratelimit(5)},
            ValueError,
            "needs a rate_limit_key, got None",
        ),
        (
            {"paginator": {"type": "offset", "limit": 10}},
            ValueError,
            "counts records to see an empty or short page: give record_path",
        ),
        ({"credential_origins": "https://a.test"}, TypeError, "credential_origins must be a list of URLs"),
        ({"max_wait": -1}, ValueError, "max_wait must be a finite number of seconds >= 0, got -1"),
    ],
)
def test_a_bad_value_names_the_field_and_the_value(settings, error, text):
    with pytest.raises(error) as info:
        FetchSpec(**settings)
    assert text in str(info.value)


def test_values_are_normalised_once():
    spec = FetchSpec(
        headers={"Accept": "application/json"},
        credential_origins=["https://a.test"],
        paginator={"type": "cursor", "cursor_path": "next"},
        timeout=5,
    )
    assert spec.headers == {"Accept": "application/json"} and isinstance(spec.timeout, float)
    with pytest.raises(TypeError):
        spec.headers["X"] = "y"  # type: ignore[index]
    assert spec.credential_origins == ("https://a.test",)
    assert isinstance(spec.paginator, CursorPaginator)
    # a record path without a paginator: each URL is a one-page stream (records counted per stream)
    assert isinstance(FetchSpec(record_path="data").paginator, SinglePagePaginator)


@pytest.mark.parametrize(
    ("settings", "units", "expected"),
    [
        ({}, None, 64),
        (
            {"max_concurrency": 16},
            3,
            3,
        ),  # no more workers than URLs left (after a resume: the ones not stored)
        ({"max_concurrency": 16}, 0, 1),
        ({"rate_limit": Ratelimit(5)}, 100, 5),  # capped at the rate limit's requests per period
        ({"max_concurrency": 16, "paginator": "json_link"}, 3, 16),  # a stream may have many pages
    ],
)
def test_concurrency_for_is_what_the_run_uses(settings, units, expected):
    spec = FetchSpec(**settings)
    assert spec.concurrency_for(units) == expected
    urls = [f"http://x.test/{i}" for i in range(units)] if units else ["http://x.test/0"] * 0
    if units is not None and units > 0 and spec.paginator is None:
        assert (
            UploadedData(ListStore(), url_maker=urls, spec=spec).spec.concurrency_for(len(urls)) == expected
        )


def test_describe_rate_limit():
    rate = Ratelimit(20, timedelta(seconds=2), mode="bucket")
    assert FetchSpec(rate_limit=rate).describe_rate_limit() == "20/2s bucket"
    shared = FetchSpec(rate_limit=rate, rate_limit_scope="shared", rate_limit_key="api")
    assert shared.describe_rate_limit() == "20/2s bucket, shared key 'api'"


def test_uploaded_data_builds_its_spec_from_keywords_and_overrides_a_given_one():
    uploader = UploadedData(ListStore(), url_maker=[], max_concurrency=3, timeout=2)
    assert uploader.spec == FetchSpec(max_concurrency=3, timeout=2)
    assert (uploader.max_concurrency, uploader.timeout) == (3, 2.0)  # attributes read the spec
    base = FetchSpec(max_concurrency=8, batch_size=7)
    overridden = UploadedData(ListStore(), url_maker=[], spec=base, max_concurrency=2)
    assert (overridden.spec.max_concurrency, overridden.spec.batch_size) == (2, 7)
    with pytest.raises(TypeError, match=r"unexpected keyword argument\(s\) \['max_concurency'\]"):
        UploadedData(ListStore(), url_maker=[], max_concurency=3)


def test_a_shared_spec_needs_the_shared_limiter_itself():
    spec = FetchSpec(rate_limit=Ratelimit(5), rate_limit_scope="shared", rate_limit_key="api")
    with pytest.raises(ValueError, match="needs the shared limiter itself as rate_limit"):
        UploadedData(ListStore(), url_maker=[], spec=spec)


def test_not_given_is_one_falsy_object_that_survives_copies():
    assert not NOT_GIVEN and repr(NOT_GIVEN) == "NOT_GIVEN"
    assert copy.deepcopy(NOT_GIVEN) is NOT_GIVEN and pickle.loads(pickle.dumps(NOT_GIVEN)) is NOT_GIVEN
