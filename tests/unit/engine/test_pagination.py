"""Paginators as plain objects: what each one says after a page, the dict form and its errors, ``auto``'s
choice and its refusal to guess. No network: pages are built by hand (the server runs are in
``tests/integration/test_pagination_server.py``)."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from airflow_provider_bulk_uploader import ListStore, UploadedData
from airflow_provider_bulk_uploader.engine.pagination import (
    PAGINATOR_TYPES,
    AutoPaginator,
    Broken,
    CursorPaginator,
    FanOut,
    HeaderCursorPaginator,
    HeaderLinkPaginator,
    JSONLinkPaginator,
    NextPage,
    OffsetPaginator,
    Page,
    PageContext,
    PageNumberPaginator,
    SinglePagePaginator,
    Stop,
    detect,
    link_header_next,
    paginator_from,
    with_query,
)
from airflow_provider_bulk_uploader.engine.paths import MISSING, lookup, records_at

BASE = "https://api.example.com/items?q=1"


def ctx(
    body: Any,
    url: str = BASE,
    *,
    headers: dict[str, str] | None = None,
    number: int = 1,
    records: int | None = None,
):
    """The context the engine builds: ``records`` counted at a record_path, or (``None``) a run without one,
    where every page counts as one record."""
    counted = records is not None
    page = Page(url, body, headers or {})
    return PageContext(BASE, page, number, records if counted else 1, counted=counted)


# ---- the dotted-path parser -----------------------------------------------------------------------


def test_lookup_follows_keys_and_list_indexes_and_reports_missing():
    body = {"meta": {"next_cursor": "c1"}, "links": [{"href": "/p2"}], "n": None}
    assert lookup(body, "meta.next_cursor") == "c1"
    assert lookup(body, "links.0.href") == "/p2"
    assert lookup(body, ".") is body
    assert lookup(body, "n") is None  # present but null is not missing
    assert lookup(body, "meta.absent") is MISSING
    assert lookup(body, "links.5.href") is MISSING


def test_records_at_names_the_path_when_records_are_missing():
    assert records_at({"data": [1, 2]}, "data") == [1, 2]
    assert records_at([1, 2], ".") == [1, 2]
    assert records_at({"x": 1}, None) == [{"x": 1}]
    with pytest.raises(ValueError, match=r"record_path 'data\.items': no key 'items'"):
        records_at({"data": {"rows": []}}, "data.items")
    with pytest.raises(ValueError, match="must lead to a JSON list, got dict"):
        records_at({"data": {}}, "data")


def test_storage_extract_records_is_the_engine_parser():
    from airflow_provider_bulk_uploader.storage.base import extract_records

    assert extract_records is records_at


# ---- each strategy ----------------------------------------------------------------------------------


def test_json_link_resolves_relative_next_and_stops_without_one():
    p = JSONLinkPaginator("links.next")
    assert p.next_step(ctx({"links": {"next": "/items?page=2"}})) == NextPage(
        "https://api.example.com/items?page=2"
    )
    assert p.next_step(ctx({"links": {"next": None}})) == Stop("no next link")
    assert p.next_step(ctx({"data": []})) == Stop("no next link")
    assert isinstance(p.next_step(ctx({"links": {"next": {"href": "x"}}})), Broken)


def test_link_header_parsing_rfc8288():
    value = (
        '<https://a/x?page=1>; rel="first", <https://a/x?page=3>; rel="prev next", '
        "<https://a/x?p=9>; rel=last"
    )
    assert link_header_next(value) == "https://a/x?page=3"
    assert link_header_next(value, "last") == "https://a/x?p=9"
    assert link_header_next('<https://a/x?page=1>; rel="first"') is None
    assert link_header_next(None) is None


def test_header_link_follows_the_next_entry():
    p = HeaderLinkPaginator()
    page = ctx([{"id": 1}], headers={"Link": '</items?page=2>; rel="next", </items?page=1>; rel="first"'})
    assert p.next_step(page) == NextPage("https://api.example.com/items?page=2")
    empty = ctx([], headers={"Link": '</items?page=2>; rel="next"'})  # a JSON list body: counted as it is
    assert p.next_step(empty) == Stop("empty page")
    assert p.next_step(ctx([], headers={"Link": '</items?page=1>; rel="first"'})) == Stop("no next link")
    assert p.next_step(ctx([])) == Stop("no next link")


def test_cursor_sets_the_query_parameter_replacing_the_previous_cursor():
    p = CursorPaginator("meta.next_cursor", "after")
    url = with_query(BASE, {"after": "c1"})
    assert p.next_step(ctx({"meta": {"next_cursor": "c2"}}, url)) == NextPage(
        "https://api.example.com/items?q=1&after=c2"
    )
    assert p.next_step(ctx({"meta": {"next_cursor": None}})) == Stop("no next cursor")
    assert p.next_step(ctx({"meta": {"next_cursor": ""}})) == Stop("no next cursor")


def test_header_cursor_reads_the_header():
    p = HeaderCursorPaginator("X-Next-Cursor")
    assert p.next_step(ctx([{"id": 1}], headers={"X-Next-Cursor": "zz"})) == NextPage(BASE + "&cursor=zz")
    assert p.next_step(ctx([], headers={"X-Next-Cursor": "zz"})) == Stop("empty page")
    assert p.next_step(ctx([])) == Stop("no next cursor")


def test_offset_fans_out_every_remaining_page_once_the_total_is_known():
    p = OffsetPaginator(limit=100)
    first = p.first_url(BASE)
    assert first == BASE + "&offset=0&limit=100"
    step = p.next_step(ctx({"total": 1050}, first, records=100))
    assert isinstance(step, FanOut) and step.count == 10
    urls = list(step.urls)
    assert urls[0].endswith("offset=100&limit=100") and urls[-1].endswith("offset=1000&limit=100")
    # a later page of a fan-out is never asked (the engine does not call next_step for it)


def test_offset_without_total_is_sequential_and_stops_on_short_or_empty_page():
    p = OffsetPaginator(limit=100, total_path=None)
    first = p.first_url(BASE)
    assert p.next_step(ctx({}, first, records=100)) == NextPage(BASE + "&offset=100&limit=100")
    assert p.next_step(ctx({}, first, number=2, records=40)) == Stop("short page")
    assert p.next_step(ctx({}, first, number=2, records=0)) == Stop("empty page")
    capped = OffsetPaginator(limit=100, total_path=None, maximum_offset=200)
    assert capped.next_step(ctx({}, with_query(BASE, {"offset": 100}), number=2, records=100)) == Stop(
        "maximum_offset reached"
    )


def test_page_number_fans_out_from_total_pages_and_counts_from_base_page():
    p = PageNumberPaginator(base_page=1, total_path="meta.total_pages")
    first = p.first_url(BASE)
    assert first.endswith("page=1")
    step = p.next_step(ctx({"meta": {"total_pages": 4}}, first, records=10))
    assert isinstance(step, FanOut) and step.count == 3
    assert [u.rsplit("=", 1)[1] for u in step.urls] == ["2", "3", "4"]
    assert p.next_step(ctx({"meta": {"total_pages": 1}}, first, records=10)).count == 0  # type: ignore[union-attr]


def test_page_number_without_total_stops_on_empty_page():
    p = PageNumberPaginator(base_page=1, total_path=None)
    assert p.next_step(ctx({}, with_query(BASE, {"page": 3}), number=3, records=5)) == NextPage(
        BASE + "&page=4"
    )
    assert p.next_step(ctx({}, with_query(BASE, {"page": 4}), number=4, records=0)) == Stop("empty page")


def test_single_page():
    assert SinglePagePaginator().next_step(ctx({"next": "x"})) == Stop("single page")


# ---- auto -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "headers", "url", "expected"),
    [
        ([], {"Link": '</p?page=2>; rel="next"'}, BASE, HeaderLinkPaginator()),
        ({"links": {"next": "/p?page=2"}}, {}, BASE, JSONLinkPaginator("links.next")),
        ({"next": None, "data": []}, {}, BASE, JSONLinkPaginator("next")),
        (
            {"meta": {"total_pages": 3}},
            {},
            BASE,
            PageNumberPaginator(base_page=1, total_path="meta.total_pages"),
        ),
        ({"total": 1000}, {}, BASE + "&limit=100", OffsetPaginator(limit=100, total_path="total")),
        ({"meta": {"next_cursor": "c2"}}, {}, BASE, CursorPaginator("meta.next_cursor")),
        ([], {"X-Next-Cursor": "c2"}, BASE, HeaderCursorPaginator("X-Next-Cursor")),
        ({"data": []}, {}, BASE, SinglePagePaginator()),
    ],
)
def test_auto_detects_each_style_in_priority_order(body, headers, url, expected):
    assert detect(Page(url, body, headers)) == expected


def test_auto_prefers_link_header_over_json_next_when_they_agree():
    page = Page(BASE, {"next": "https://api.example.com/p?page=2"}, {"Link": '</p?page=2>; rel="next"'})
    assert detect(page) == HeaderLinkPaginator()


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        ({"next": "/a?page=2"}, {"Link": '</b?page=2>; rel="next"'}),  # header and body disagree
        ({"next": "/a?page=2", "links": {"next": "/b?page=2"}}, {}),  # two body paths disagree
        ({"next_cursor": "c1", "meta": {"next_cursor": "c9"}}, {}),  # two cursors disagree
    ],
)
def test_auto_refuses_to_guess_when_signals_conflict(body, headers):
    step = AutoPaginator().next_step(ctx(body, headers=headers))
    assert isinstance(step, Broken) and "set pagination explicitly" in step.error


def test_auto_logs_its_choice_once_per_run_and_again_in_the_next_run(caplog):
    auto = AutoPaginator()
    caplog.set_level(logging.INFO, logger="airflow_provider_bulk_uploader")
    body = {"paging": {"next": "/p?page=2"}}
    for _run in range(2):  # two runs in one process: each logs what auto chose, once
        caplog.clear()
        shared: dict[str, Any] = {}  # what the engine gives every stream of one run
        for _stream in range(3):
            c = ctx(body)
            c.run = shared
            assert auto.next_step(c) == NextPage("https://api.example.com/p?page=2")
            assert auto.next_step(c) == NextPage("https://api.example.com/p?page=2")  # memo reused
        assert sum("pagination auto: chose" in r.getMessage() for r in caplog.records) == 1


# ---- the dict form ----------------------------------------------------------------------------------


def test_every_type_name_parses_and_round_trips():
    for name in PAGINATOR_TYPES:
        spec: dict[str, Any] = {"type": name, **({"limit": 10} if name == "offset" else {})}
        p = paginator_from(spec)
        assert p is not None and p.type == name
        assert paginator_from(p.to_dict()) == p
    assert paginator_from("auto") == AutoPaginator()
    assert paginator_from(None) is None
    cursor = paginator_from({"type": "cursor", "cursor_path": "meta.next_cursor", "cursor_param": "cursor"})
    assert cursor == CursorPaginator("meta.next_cursor", "cursor")
    assert cursor.to_dict() == {"type": "cursor", "cursor_path": "meta.next_cursor"}  # type: ignore[union-attr]


def test_rendered_template_strings_are_coerced():
    p = paginator_from({"type": "offset", "limit": "50", "max_pages": "7", "stop_after_empty_page": "false"})
    assert p == OffsetPaginator(limit=50, stop_after_empty_page=False, max_pages=7)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"type": "cursr"}, r"\['type'\] must be one of .* got 'cursr'"),
        (
            {"type": "cursor", "cursor_paht": "x"},
            r"unknown key 'cursor_paht' \(value 'x'\) for type 'cursor'",
        ),
        ({"type": "offset"}, r"'offset' needs 'limit'"),
        ({"type": "offset", "limit": 0}, r"limit must be a whole number >= 1, got 0"),
        ({"type": "json_link", "max_pages": -1}, r"max_pages must be >= 1, got -1"),
        ({"type": "cursor", "cursor_path": "a..b"}, r"cursor_path must be a dotted key path .* 'a..b'"),
        (42, r"got int"),
    ],
)
def test_bad_specs_name_the_key_and_the_value(spec, message):
    with pytest.raises(ValueError, match=message):
        paginator_from(spec)


def test_uploaded_data_validates_the_paginator_at_construction():
    with pytest.raises(ValueError, match="unknown key 'nxt'"):
        UploadedData(ListStore(), url_maker=[BASE], paginator={"type": "json_link", "nxt": "x"})
    with pytest.raises(ValueError, match="give record_path"):
        UploadedData(ListStore(), url_maker=[BASE], paginator={"type": "offset", "limit": 10})
    run = UploadedData(ListStore(), url_maker=[BASE], record_path="data")
    assert run.paginator == SinglePagePaginator()  # record_path alone: each URL one counted page
    assert UploadedData(ListStore(), url_maker=[BASE]).paginator is None


def test_maximum_offset_and_maximum_page_cap_the_fan_out_but_do_not_start_one():
    capped = OffsetPaginator(limit=100, maximum_offset=300)
    step = capped.next_step(ctx({"total": 1000}, capped.first_url(BASE), records=100))
    assert isinstance(step, FanOut) and step.count == 2 and step.reason == "maximum_offset reached"
    # without a total the cap only stops the sequential walk: no blind fan-out of pages that may not exist
    assert isinstance(capped.next_step(ctx({}, capped.first_url(BASE), records=100)), NextPage)
    pages = PageNumberPaginator(base_page=1, maximum_page=3)
    step = pages.next_step(ctx({"total": 10}, pages.first_url(BASE), records=5))
    assert isinstance(step, FanOut) and step.count == 2 and step.reason == "maximum_page reached"
    assert isinstance(pages.next_step(ctx({}, pages.first_url(BASE), records=5)), NextPage)
