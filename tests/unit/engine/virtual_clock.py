"""An event loop whose clock jumps to the next timer instead of sleeping (for pure in-memory logic).

Like aiolimiter's tests, this patches the loop's notion of time rather than sleeping: ``loop.time()``
returns a virtual clock that advances to the next scheduled callback whenever nothing else is ready.
Only for code that does no real I/O (respx-mocked httpx is fine: it never touches a socket).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """The loop; ``min_step``: seconds the clock moves, at the least, when nothing is ready and the next timer
    is already due (default 0: it stays put). aiolimiter re-arms its timer at ``last_check + needed / rate``,
    which float rounding can make equal to now where a real clock would have moved on: its tests use 1e-6."""

    def __init__(self, min_step: float = 0.0) -> None:
        super().__init__()
        self._virtual_now = 0.0
        self._min_step = min_step

    def time(self) -> float:
        return self._virtual_now

    def _run_once(self) -> None:
        scheduled = self._scheduled  # type: ignore[attr-defined]
        if not self._ready and scheduled:  # type: ignore[attr-defined]
            when = scheduled[0]._when
            if when > self._virtual_now:
                self._virtual_now = when
            elif self._min_step:
                self._virtual_now += self._min_step
        super()._run_once()  # type: ignore[misc]


def run_virtual(coro: Coroutine[Any, Any, T], *, min_step: float = 0.0) -> T:
    """Run ``coro`` to completion on a fresh :class:`VirtualTimeLoop` (``min_step``: see there)."""
    loop = VirtualTimeLoop(min_step)
    try:
        return loop.run_until_complete(coro)
    finally:
        loop.close()
