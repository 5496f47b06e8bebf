"""The demo API as pytest fixtures, for every test directory (registered in ``tests/conftest.py`` with
``pytest_plugins``): ``demo`` (one server without auth, rate limit or faults) and ``make_demo`` (start more,
with any :class:`~airflow_provider_bulk_uploader.testing.DemoAPI` option). Each server runs on 127.0.0.1 on
its own thread and event loop, so the arrival times it records are those of an independent server; every
one is stopped at the test's teardown."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_provider_bulk_uploader.testing import DemoAPI, running_demo_api


@pytest.fixture
def demo() -> Iterator[DemoAPI]:
    """A demo API without auth, rate limit or faults on 127.0.0.1 (its own thread and loop)."""
    with running_demo_api() as api:
        yield api


@pytest.fixture
def make_demo() -> Iterator[Callable[..., DemoAPI]]:
    """Start extra demo servers (``make_demo(token=..., auth=...)``); all stopped at teardown."""
    with contextlib.ExitStack() as stack:

        def make(**kwargs: Any) -> DemoAPI:
            return stack.enter_context(running_demo_api(**kwargs))

        yield make
