"""Run a :class:`DemoAPI` on a background thread, for tests that are not async."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from .server import DemoAPI


@contextlib.contextmanager
def running_demo_api(**kwargs: Any) -> Iterator[DemoAPI]:
    """Run a ``DemoAPI(**kwargs)`` on a background thread's event loop for non-async tests.

    ``api.arrivals``, ``api.stats`` and ``api.requests`` are written by the server thread; read
    them after the requests you care about completed (``list(api.arrivals)`` takes a snapshot).
    """
    api = DemoAPI(**kwargs)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    failure: list[BaseException] = []

    def serve() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(api.start())
        except BaseException as exc:
            failure.append(exc)
            started.set()
            loop.close()
            return
        started.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(api.stop())
            # handlers still waiting (e.g. /slow when a client gave up): end them before closing the loop,
            # instead of "Task was destroyed but it is pending!" at garbage collection
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.close()

    thread = threading.Thread(target=serve, name=f"demo-api-{id(api):x}", daemon=True)
    thread.start()
    if not started.wait(timeout=10):
        raise RuntimeError("demo API did not start within 10 s")
    if failure:
        raise failure[0]
    try:
        yield api
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
