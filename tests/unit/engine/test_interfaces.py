"""engine/interfaces.py: the resume contract's value types (:class:`StartURL`, :class:`ResumePage`,
:class:`PageSource`) and what the runtime-checkable protocols accept."""

from __future__ import annotations

import copy
import dataclasses
import pickle
from typing import Any

import pytest

from airflow_provider_bulk_uploader import ListStore
from airflow_provider_bulk_uploader.engine.interfaces import (
    APICall,
    PageSource,
    ResumableStore,
    ResumePage,
    StartURL,
    Store,
)

URL = "https://api.test/items/7"


def test_a_start_url_is_its_url_and_carries_its_unit():
    start = StartURL(URL, 7)
    assert start == URL and hash(start) == hash(URL) and isinstance(start, str)
    assert start.unit == 7 and start.resume_pages == ()
    assert {URL: "x"}[start] == "x"
    assert repr(start) == f"StartURL('{URL}', unit=7)"


def test_resume_pages_are_normalised_from_json_and_not_shared():
    from_json: list[list[Any]] = [[f"{URL}?cursor=c2", "2", 1]]  # as a checkpoint reads it back
    start = StartURL(URL, 7, from_json)
    assert start.resume_pages == (ResumePage(f"{URL}?cursor=c2", 2, True),)
    page = start.resume_pages[0]
    assert (type(page.number), type(page.decides)) == (int, bool)
    from_json.clear()  # the caller's list is copied, not kept
    assert len(start.resume_pages) == 1
    assert StartURL(URL, 8).resume_pages == (), "no state shared between instances"


@pytest.mark.parametrize("clone", [lambda s: pickle.loads(pickle.dumps(s)), copy.copy, copy.deepcopy])
def test_a_start_url_survives_pickling_and_copies(clone):
    start = StartURL(URL, {"ordinal": 7}, [(f"{URL}?page=3", 3, False)])
    again = clone(start)
    assert isinstance(again, StartURL) and again == URL
    assert again.unit == {"ordinal": 7} and again.resume_pages == start.resume_pages


def test_a_page_source_is_a_frozen_value():
    source = PageSource(stream_unit=7, number=2, after={"next": f"{URL}?page=3"})
    assert source == PageSource(7, 2, {"next": f"{URL}?page=3"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        source.number = 3  # type: ignore[misc]


def test_the_protocols_accept_what_the_engine_looks_for():
    class Resumable(ListStore):
        def add_batch_from(self, sources: list[Any], items: list[Any]) -> None: ...

    class Call:
        async def content(self) -> Any: ...

    assert isinstance(ListStore(), Store) and not isinstance(ListStore(), ResumableStore)
    assert isinstance(Resumable(), ResumableStore)
    assert isinstance(Call(), APICall) and not isinstance(object(), APICall)
