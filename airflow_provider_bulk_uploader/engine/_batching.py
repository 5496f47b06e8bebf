"""Step 3 of a run: parsed bodies collected into batches of ``batch_size`` records and handed to the store,
one call at a time (an async store keeps receiving while a call is awaited), the last partial batch at the
end. A body counts as one record, except a page of a paginated run, which counts the records on it: a batch
is handed over once it holds ``batch_size`` records (a page is never split), so a paginated run keeps about a
batch's worth of records alive, not ``batch_size`` pages of them.

A :class:`~.interfaces.ResumableStore` (one with ``add_batch_from(sources, items)``) also learns where each
body came from (the exact object ``url_maker`` yielded, so it may be a :class:`~.interfaces.StartURL`, or a
:class:`~.interfaces.PageSource`): what it records as durably stored. Stores without it cost nothing extra."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any

from .interfaces import ResumableStore, Store

__all__ = ["Batcher"]


class Batcher:
    """The pending batch of one run and the single path by which records reach ``store``."""

    def __init__(self, store: Store, batch_size: int) -> None:
        self.store = store
        self.size = batch_size
        self.batch: list[Any] = []
        #: records in :attr:`batch` (bodies, or the records on the pages of a paginated run)
        self.records = 0
        #: with pages: the records of each body in :attr:`batch`, in step (``None``: one record a body)
        self.weights: list[int] | None = None
        #: with a :class:`~.interfaces.ResumableStore`: the source of each body in :attr:`batch`, in step
        self.sources: list[Any] | None = [] if isinstance(store, ResumableStore) else None
        self.lock = asyncio.Lock()
        self.store_failed = False
        hand_over = getattr(store, "add_batch_from" if self.sources is not None else "add_batch", None)
        #: whether handing a batch over may suspend the caller (an ``async def`` store method)
        self.async_store = inspect.iscoroutinefunction(hand_over) or inspect.iscoroutinefunction(
            getattr(store, "add", None)
        )

    def may_suspend(self, records: int) -> bool:
        """Whether adding a page of ``records`` records may suspend: it completes a batch for an async
        store (the lock a running hand-over holds also suspends, but only behind an async store)."""
        return self.async_store and self.records + records >= self.size

    def add(self, item: Any, source: Any = None) -> bool:
        """Queue one parsed body (fetched from URL ``source``) that is one record; ``True`` when a batch is
        full: the caller then awaits :meth:`flush` (no coroutine per body on the hot path)."""
        self.batch.append(item)
        if self.sources is not None:
            self.sources.append(source)
        self.records += 1
        return self.records >= self.size

    async def add_page(self, item: Any, records: int, source: Any = None) -> None:
        """Queue one page body holding ``records`` records; hand over a batch once it holds ``batch_size``."""
        if self.weights is None:
            self.weights = [1] * len(self.batch)
        self.batch.append(item)
        self.weights.append(records)
        if self.sources is not None:
            self.sources.append(source)
        self.records += records
        if self.records >= self.size:
            await self.flush()

    async def flush(self, *, final: bool = False) -> None:
        """Hand the store every full batch (and with ``final`` the last partial one), one call at a time: a
        batch is the first bodies that hold ``batch_size`` records (bodies are never split)."""
        size = self.size
        if self.records < size and not (final and self.batch):
            return
        async with self.lock:
            while not self.store_failed and (self.records >= size or (final and self.batch)):
                n = self._bodies_for(size)
                chunk = self.batch[:n]
                del self.batch[:n]
                sources = None
                if self.sources is not None:
                    sources = self.sources[:n]
                    del self.sources[:n]
                await self._hand_to_store(chunk, sources)

    def _bodies_for(self, size: int) -> int:
        """How many bodies from the front make the next batch, and take their records off the count."""
        weights = self.weights
        if weights is None:
            n = min(size, len(self.batch))
            self.records -= n
            return n
        n = total = 0
        while n < len(weights) and total < size:
            total += weights[n]
            n += 1
        del weights[:n]
        self.records -= total
        return n

    async def finish(self) -> None:
        """Hand over the last partial batch, then call the store's ``flush()`` — also after a cancel. After a
        store error only ``flush()`` runs (to release the store), not another ``add_batch``."""
        try:
            if not self.store_failed:
                await self.flush(final=True)
        finally:
            flush = getattr(self.store, "flush", None)
            if callable(flush):
                result = flush()
                if inspect.isawaitable(result):
                    await result

    async def _hand_to_store(self, chunk: list[Any], sources: list[Any] | None = None) -> None:
        store = self.store
        add_batch = getattr(store, "add_batch", None)
        try:
            if sources is not None:
                assert isinstance(store, ResumableStore)
                result = store.add_batch_from(sources, chunk)
                if inspect.isawaitable(result):
                    await result
                return
            if callable(add_batch):
                result = add_batch(chunk)
                if inspect.isawaitable(result):
                    await result
                return
            for item in chunk:
                result = store.add(item)
                if inspect.isawaitable(result):
                    await result
        except Exception:  # not a cancel: after a cancel the last batch is still handed over
            self.store_failed = True
            raise
