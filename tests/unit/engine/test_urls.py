"""engine/urls.py, table by table: what an origin is (the unit credentials are scoped to), joining a path to a
base URL, and the query-string edits (append, set, read, drop) the auth, pagination and resume code share."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from airflow_provider_bulk_uploader.engine.urls import (
    append_query,
    cached_origin,
    join_url,
    origin_of,
    query_value,
    same_origin,
    with_query,
    without_params,
)


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("HTTPS://Api.Test/x", ("https", "api.test", 443)),  # scheme and host lower-cased
        ("http://a.test/", ("http", "a.test", 80)),  # default ports filled in
        ("https://a.test", ("https", "a.test", 443)),
        ("http://a.test:8080/", ("http", "a.test", 8080)),
        ("http://user:pw@a.test:81/p?q=1#f", ("http", "a.test", 81)),  # userinfo, path, query: not the origin
        ("http://[::1]:8080/x", ("http", "::1", 8080)),
        ("ftp://a.test/x", ("ftp", "a.test", None)),  # no default port for other schemes
        ("/relative/path", ("", "", None)),
        ("https://a.test:99999/x", ("https", "a.test", None)),  # a port out of range: no origin, not :443
        (httpx.URL("https://Api.Test:8443/x"), ("https", "api.test", 8443)),  # anything whose str() is a URL
    ],
)
def test_origin_of(url: Any, origin: tuple[str, str, int | None]) -> None:
    assert origin_of(url) == origin
    # the hot path's cached variant (by the URL's scheme://authority part) gives the same origin
    assert cached_origin(str(url)) == origin
    assert cached_origin(str(url)) == origin  # and again, from its cache


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("http://a.test/x", "http://a.test:80/y", True),  # the default port, written or not
        ("https://A.test/x", "https://a.TEST:443/", True),
        ("http://a.test/x", "https://a.test/x", False),  # scheme
        ("http://a.test/x", "http://a.test:81/x", False),  # port
        ("http://a.test/x", "http://b.test/x", False),  # host
        ("http://a.test/x", "http://sub.a.test/x", False),  # a subdomain is another origin
    ],
)
def test_same_origin(a: str, b: str, same: bool) -> None:
    assert same_origin(a, b) is same
    assert same_origin(b, a) is same


@pytest.mark.parametrize(
    ("base", "endpoint", "joined"),
    [
        ("https://a.test/v1/", "/items", "https://a.test/v1/items"),  # exactly one slash between
        ("https://a.test/v1", "items", "https://a.test/v1/items"),
        ("https://a.test/v1//", "//items", "https://a.test/v1/items"),
        ("https://a.test/v1", "", "https://a.test/v1"),  # empty endpoint: the base itself
        ("https://a.test/v1", "https://b.test/x", "https://b.test/x"),  # absolute endpoint wins
        ("https://a.test", "items?x=1", "https://a.test/items?x=1"),
    ],
)
def test_join_url(base: str, endpoint: str, joined: str) -> None:
    assert join_url(base, endpoint) == joined


@pytest.mark.parametrize(
    ("url", "params", "result"),
    [
        ("https://a.test/x", {"a": "1 2"}, "https://a.test/x?a=1+2"),  # a mapping, encoded
        ("https://a.test/x?p=1", [("b", "2")], "https://a.test/x?p=1&b=2"),  # pairs, after an existing query
        ("https://a.test/x", [("t", "a"), ("t", "b")], "https://a.test/x?t=a&t=b"),  # repeats kept
        ("https://a.test/x?p=1", "api_key=s%20t", "https://a.test/x?p=1&api_key=s%20t"),  # encoded text as is
        ("https://a.test/x", {}, "https://a.test/x"),  # nothing to add: unchanged, no stray "?"
        ("https://a.test/x", "", "https://a.test/x"),
    ],
)
def test_append_query(url: str, params: Any, result: str) -> None:
    assert append_query(url, params) == result


@pytest.mark.parametrize(
    ("url", "params", "result"),
    [
        ("https://a.test/x", {"page": 2}, "https://a.test/x?page=2"),  # a new one is appended
        ("https://a.test/x?page=1&q=z", {"page": 2}, "https://a.test/x?page=2&q=z"),  # keeps its place
        ("https://a.test/x?b=1&a=2&b=3", {"b": 9}, "https://a.test/x?b=9&a=2"),  # a repeat of it is dropped
        ("https://a.test/x?keep=&q=1", {"q": "a b"}, "https://a.test/x?keep=&q=a+b"),  # blanks kept
        ("https://a.test/x?q=1", {}, "https://a.test/x?q=1"),
        ("https://a.test/x?a=1#frag", {"a": 2}, "https://a.test/x?a=2#frag"),  # the fragment stays last
        ("https://a.test/x#frag", {"a": 2}, "https://a.test/x?a=2#frag"),
        ("https://a.test/x?q=a%2Fb&c=1", {"c": "x/y"}, "https://a.test/x?q=a%2Fb&c=x%2Fy"),  # as before
        ("https://a.test/x?q=1", {"a b": "&"}, "https://a.test/x?q=1&a+b=%26"),  # name and value encoded
        ("https://a.test/x?a=1&b=2", {"a": 3, "b": 4}, "https://a.test/x?a=3&b=4"),  # several at once
        ("https://a.test/x?a=1&b=2&a=5", {"b": 4, "c": 0}, "https://a.test/x?a=1&b=4&a=5&c=0"),  # others kept
    ],
)
def test_with_query(url: str, params: dict[str, Any], result: str) -> None:
    assert with_query(url, params) == result


@pytest.mark.parametrize(
    ("url", "name", "value"),
    [
        ("https://a.test/x?cursor=abc&n=1", "cursor", "abc"),
        ("https://a.test/x?a=1&a=2", "a", "1"),  # the first value
        ("https://a.test/x?a=&b=2", "a", ""),  # blank is not missing
        ("https://a.test/x?c=a%2Bb", "c", "a+b"),  # decoded
        ("https://a.test/x?a=1", "b", None),
        ("https://a.test/x", "a", None),
    ],
)
def test_query_value(url: str, name: str, value: str | None) -> None:
    assert query_value(url, name) == value


@pytest.mark.parametrize(
    ("url", "names", "result"),
    [
        ("https://a.test/x?k=1&api_key=s&k=2", ["api_key"], "https://a.test/x?k=1&k=2"),
        ("https://a.test/x?api_key=s", ["api_key"], "https://a.test/x"),
        ("https://a.test/x?a=1&token=t&api_key=s", ("api_key", "token"), "https://a.test/x?a=1"),
        # none of them there: the very same string (its own encoding is not rewritten)
        ("https://a.test/x?q=a%20b", ["api_key"], "https://a.test/x?q=a%20b"),
        ("https://a.test/x", ["api_key"], "https://a.test/x"),
        ("https://a.test/x?api_key=s", [], "https://a.test/x?api_key=s"),
    ],
)
def test_without_params(url: str, names: Any, result: str) -> None:
    assert without_params(url, names) == result
