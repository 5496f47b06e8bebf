"""storage/units.py: the arithmetic of units of progress, directly (checkpoint.py records it; the DAG runs of
test_resume*.py show it end to end). Range merging and counting, the pages a partly stored stream continues
with (``next`` / ``end`` / ``fanout``), and :class:`RemainingUnits` skipping what is done."""

from __future__ import annotations

from typing import Any

import pytest

from airflow_provider_bulk_uploader.engine.interfaces import ResumePage, StartURL
from airflow_provider_bulk_uploader.storage.units import (
    RemainingUnits,
    count_units,
    merge_ranges,
    stream_pages,
)


@pytest.mark.parametrize(
    ("ranges", "units", "merged"),
    [
        ([], [], []),
        ([[0, 4]], [], [[0, 4]]),
        ([[5, 9], [0, 4]], [], [[0, 9]]),  # sorted, and adjacent ranges join
        ([[0, 2], [4, 6]], [], [[0, 2], [4, 6]]),  # a gap stays a gap
        ([[0, 5], [2, 3]], [], [[0, 5]]),  # contained
        ([[0, 5], [3, 8]], [], [[0, 8]]),  # overlapping
        ([[0, 2]], [3], [[0, 3]]),  # a single unit extends a range
        ([], [7, 5, 6, 9], [[5, 7], [9, 9]]),
        ([[0, 2], [4, 6]], [3], [[0, 6]]),  # ... or closes the gap
        ([("1", "2")], [], [[1, 2]]),  # from JSON: ints
    ],
)
def test_merge_ranges(ranges: Any, units: list[int], merged: list[list[int]]) -> None:
    assert merge_ranges(ranges, units) == merged


@pytest.mark.parametrize(
    ("ranges", "count"), [([], 0), ([[3, 3]], 1), ([[0, 9]], 10), ([[0, 2], [10, 14]], 8)]
)
def test_count_units(ranges: list[list[int]], count: int) -> None:
    assert count_units(ranges) == count


FANOUT_PATTERN = {"base": "https://a.test/p?limit=10", "param": "offset", "values": [10, 50, 10]}
FANOUT_LIST = ["https://a.test/p?page=2", "https://a.test/p?page=3", "https://a.test/p?page=4"]


@pytest.mark.parametrize(
    ("entry", "pages"),
    [
        ({}, []),  # nothing it decided is stored: start at the first page
        ({"stored": [[2, 2]], "last": None}, []),
        ({"stored": [[1, 3]], "last": [3, "end"]}, None),  # complete
        (
            {"stored": [[1, 3]], "last": [3, {"next": "https://a.test/p?cursor=c4"}]},
            [ResumePage("https://a.test/p?cursor=c4", 4, True)],
        ),
        (
            {"stored": [[1, 1], [3, 3]], "last": [1, {"fanout": FANOUT_PATTERN, "first": 2, "count": 4}]},
            [  # pages 2..5 are offsets 10..40; page 3 (offset 20) is stored
                ResumePage("https://a.test/p?limit=10&offset=10", 2, False),
                ResumePage("https://a.test/p?limit=10&offset=30", 4, False),
                ResumePage("https://a.test/p?limit=10&offset=40", 5, False),
            ],
        ),
        (
            {"stored": [[1, 2], [4, 4]], "last": [1, {"fanout": FANOUT_LIST, "first": 2, "count": 3}]},
            [ResumePage("https://a.test/p?page=3", 3, False)],
        ),
        ({"stored": [[1, 4]], "last": [1, {"fanout": FANOUT_LIST, "first": 2, "count": 3}]}, None),
        ({"stored": [[1, 1]], "last": [1, None]}, []),  # a page that decided nothing
    ],
    ids=["empty", "no-last", "end", "next", "fanout-pattern", "fanout-list", "fanout-all-done", "after-none"],
)
def test_stream_pages(entry: dict[str, Any], pages: list[ResumePage] | None) -> None:
    assert stream_pages(entry) == pages


PLAN = [f"https://a.test/items/{i}" for i in range(10)]


@pytest.mark.parametrize(
    ("done", "left"),
    [
        ([], list(range(10))),
        ([[0, 9]], []),
        ([[0, 2], [5, 5], [8, 9]], [3, 4, 6, 7]),
        ([[8, 15]], list(range(8))),  # a range past the plan's end counts only its part inside it
        ([[20, 30]], list(range(10))),
    ],
)
def test_remaining_units_skip_the_done_ones(done: list[list[int]], left: list[int]) -> None:
    remaining = RemainingUnits(PLAN, done)
    assert len(remaining) == len(left)
    urls = list(remaining)
    assert [u.unit for u in urls] == left and urls == [PLAN[i] for i in left]
    assert all(isinstance(u, StartURL) and u.resume_pages == () for u in urls)
    assert [u.unit for u in remaining] == left, "re-iterable"


def test_remaining_units_carry_the_pages_a_stream_resumes_with() -> None:
    resume = {3: [ResumePage("https://a.test/items/3?cursor=c2", 2, True)]}
    remaining = RemainingUnits(PLAN[:5], [[0, 1]], resume)
    by_unit = {u.unit: u for u in remaining}
    assert list(by_unit) == [2, 3, 4]
    assert by_unit[3].resume_pages == (ResumePage("https://a.test/items/3?cursor=c2", 2, True),)
    assert by_unit[2].resume_pages == () and by_unit[4].resume_pages == ()


def test_remaining_units_read_the_plan_lazily() -> None:
    class Plan:
        read = 0

        def __len__(self) -> int:
            return 10**9

        def __iter__(self):
            for i in range(10**9):
                Plan.read += 1
                yield f"https://a.test/items/{i}"

    remaining = RemainingUnits(Plan(), [[0, 99]])
    assert len(remaining) == 10**9 - 100
    first = next(iter(remaining))
    assert (first.unit, Plan.read) == (100, 101)
