"""Object-storage store: JSON Lines parts + failure report + manifest under an ``ObjectStoragePath``.

Layout for a base ``<base>`` (any ``ObjectStoragePath`` URL: ``file://``, ``s3://conn_id@bucket/prefix``,
...)::

    <base>/<partition>/part-00000.jsonl.gz       records, one JSON document per line (gzip by default)
    <base>/<partition>/part-00001.jsonl.gz
    <base>/<partition>/failures.jsonl            failed requests, credentials redacted (only if any)
    <base>/<partition>/manifest.json             written last: parts, record counts, interval, report

``<partition>`` is the fetched interval (``20240101T000000Z_20240102T000000Z``) or ``run_id=<run id>`` when
no interval applies. A mapped task instance adds ``-m<map index>`` to each name
(``part-m00003-00000.jsonl.gz``,
``manifest-m00003.json``). Names depend only on the interval, the map index and the part's sequence number,
so rerunning or backfilling an interval overwrites its files; parts left over from an earlier, larger run of
the same interval are deleted before the new manifest is written. Each part is written atomically (temp file +
rename on local disks; object stores make a single PUT atomic).

With a progress checkpoint attached (:meth:`ObjectStorageStore.resume`, see :mod:`.checkpoint`), a part holds
whole responses only (it is cut at the first response boundary at or after ``records_per_part`` records), each
written part is recorded with the units it holds, and a resumed try keeps the recorded parts and numbers its
new parts after them.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import os
import re
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from airflow.sdk import ObjectStoragePath

from airflow_provider_bulk_uploader import FetchReport, redact_url
from airflow_provider_bulk_uploader.engine import defaults
from airflow_provider_bulk_uploader.engine.interfaces import PageSource, StartURL
from airflow_provider_bulk_uploader.engine.observe import RunObserver
from airflow_provider_bulk_uploader.engine.requests import Request
from airflow_provider_bulk_uploader.exceptions import BulkFetchConfigError
from airflow_provider_bulk_uploader.storage.base import (
    RunMeta,
    failure_dicts,
    iter_records,
    report_record_path_failures,
)
from airflow_provider_bulk_uploader.storage.options import COMPRESSIONS, StoreOptions

__all__ = ["COMPRESSIONS", "MANIFEST_FORMAT", "ObjectStorageStore", "as_object_storage_path"]

MANIFEST_FORMAT = "bulk-fetch-manifest/1"
DEFAULT_RECORDS_PER_PART = defaults.RECORDS_PER_PART
_LOCAL_PROTOCOLS = {"", "file", "local"}


def as_object_storage_path(value: Any) -> ObjectStoragePath:
    """``value`` (an ``ObjectStoragePath``, a URL string or an absolute local path) as a path object."""
    if isinstance(value, ObjectStoragePath):
        return value
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str) or not value.strip():
        raise BulkFetchConfigError(
            f"store must be 'xcom', an ObjectStoragePath or a URL such as file:///data/bulk or "
            f"s3://aws_default@bucket/prefix; got {value!r}"
        )
    text = value.strip()
    if "://" not in text and not text.startswith("/"):
        raise BulkFetchConfigError(
            f"store {text!r} is neither 'xcom' nor a URL; use e.g. file:///absolute/dir or s3://conn_id@bucket/prefix"
        )
    return ObjectStoragePath(text)


class ObjectStorageStore:
    """Engine store writing JSON Lines parts under ``<base>/<partition>/`` (see the module docstring).

    :param base: where to write (``ObjectStoragePath`` or URL string).
    :param meta: the run's identity (partition, map index, interval) used for names and the manifest.
    :param compression: ``"gzip"`` (default, ``.jsonl.gz``) or ``"none"`` (``.jsonl``).
    :param records_per_part: records per part file (default 10 000); bounds memory per task.
    :param record_path: see :func:`~airflow_provider_bulk_uploader.storage.base.extract_records`.
    :param observer: told of each part written (``on_records(records, bytes)``, from the writer thread), e.g.
        the task's :class:`~airflow_provider_bulk_uploader.utils.metrics.StatsObserver`; default none.
    """

    kind = "object_storage"

    def __init__(
        self,
        base: Any,
        meta: RunMeta,
        *,
        compression: str = "gzip",
        records_per_part: int = DEFAULT_RECORDS_PER_PART,
        record_path: str | None = None,
        observer: RunObserver | None = None,
    ) -> None:
        options = StoreOptions(record_path, compression=compression, records_per_part=records_per_part)
        self.meta = meta
        self.observer = observer
        self.directory = as_object_storage_path(base) / meta.partition
        self.compression = options.compression
        self.records_per_part = options.records_per_part
        self.record_path = options.record_path
        tag = "" if meta.map_index < 0 else f"-m{meta.map_index:05d}"
        self.tag = tag
        self._part_prefix = f"part{tag}-"
        self._part_suffix = ".jsonl.gz" if compression == "gzip" else ".jsonl"
        self._part_re = re.compile(rf"^{re.escape(self._part_prefix)}\d{{5,}}\.jsonl(\.gz)?$")
        self.manifest_name = f"manifest{tag}.json"
        self.failures_name = f"failures{tag}.jsonl"
        self._local = self.directory.protocol in _LOCAL_PROTOCOLS
        self._buffer: list[str] = []
        self._mismatches: list[str] = []  # bodies that did not match record_path
        self._next_seq = 0
        self._parts: list[dict[str, Any]] = []
        self._dir_ready = False
        #: (unit or page key, end of its records in ``_buffer``) for responses whose URL carried a unit key
        self._pending: list[tuple[Any, int]] = []
        self._on_part: Callable[[Mapping[str, Any] | None, list[Any]], None] | None = None
        self._writes: set[asyncio.Task[None]] = set()
        self._checkpoint_every: float | None = None
        self._buffered_since = 0.0

    # -- resuming ------------------------------------------------------------------------------------

    def resume(
        self,
        parts: list[Mapping[str, Any]],
        on_part: Callable[[Mapping[str, Any] | None, list[Any]], None] | None,
        *,
        checkpoint_every: float | None = None,
    ) -> None:
        """Keep ``parts`` (written by an earlier try) in this run's output, number new parts after them, and
        call ``on_part(part, units)`` once each new part is written (``part`` ``None``: units without
        records). ``checkpoint_every`` (seconds): also write the buffer as a part once its oldest record
        is that old, so a crash loses at most that much fetching."""
        self._checkpoint_every = checkpoint_every
        self._parts = [{k: p[k] for k in ("path", "records", "bytes", "try") if k in p} for p in parts]
        seqs = [int(m.group(1)) for p in parts if (m := re.search(r"-(\d{5,})\.jsonl", p["path"]))]
        self._next_seq = max(seqs, default=-1) + 1
        self._on_part = on_part

    def has_part(self, name: str) -> bool:
        """Whether part ``name`` exists in the output directory."""
        return (self.directory / name).exists()

    # -- engine Store protocol ------------------------------------------------------------------------

    def add(self, item: Any) -> None:
        self._buffer.extend(self._lines([item]))
        while len(self._buffer) >= self.records_per_part:
            self._write_part(*self._take(self.records_per_part))

    async def add_batch(self, items: list[Any]) -> None:
        self._buffer.extend(self._lines(items))
        while len(self._buffer) >= self.records_per_part:
            await asyncio.to_thread(self._write_part, *self._take(self.records_per_part))

    async def add_batch_from(self, urls: list[Any], items: list[Any]) -> None:
        """``add_batch`` that also learns each body's source (the engine's resume contract): a ``StartURL``
        makes its records a unit of progress, recorded with its part; a page of a paginated stream (a
        ``PageSource``) is recorded as ``(unit, position, after)``."""
        buffer, pending, lines = self._buffer, self._pending, self._lines
        if not buffer:
            self._buffered_since = time.monotonic()
        mismatches = self._mismatches
        for url, item in zip(urls, items, strict=True):
            failed_before = len(mismatches)
            buffer.extend(lines([item]))
            unit: Any = None
            if isinstance(url, (StartURL, Request)):  # a Request of a request plan carries its unit too
                unit = url.unit
            elif isinstance(url, PageSource):  # a page of a paginated stream
                unit = (url.stream_unit, url.number, url.after)
            if unit is not None and len(mismatches) == failed_before:  # a mismatch is a failure: not stored
                pending.append((unit, len(buffer)))
        while len(self._buffer) >= self.records_per_part:  # _take replaces the buffer
            await self._write_taken(self._cut())
            self._buffered_since = time.monotonic()
        every = self._checkpoint_every
        if every is not None and self._buffer and time.monotonic() - self._buffered_since >= every:
            await self._write_taken(len(self._buffer))  # whole responses only: the buffer ends at one

    async def flush(self) -> None:
        if self._writes:  # a part write whose caller was cancelled (a kill): finish and record it first
            await asyncio.gather(*list(self._writes))
        if self._buffer:
            await self._write_taken(len(self._buffer))
        elif self._pending:  # responses that held no record
            self._recorded(None, self._take_units(0))

    def saved_data(self) -> list[str]:
        """URLs of the parts written so far, in sequence order."""
        return [self._url(p["path"]) for p in sorted(self._parts, key=lambda p: p["path"])]

    # -- after the run -------------------------------------------------------------------------------

    def finalize(self, report: FetchReport, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Write the failure report, delete stale parts of an earlier run, write the manifest (last).
        Bodies that did not match ``record_path`` become failures of ``report`` first. ``extra`` (e.g. the
        resume figures) goes into the manifest and the returned description."""
        report_record_path_failures(report, self._mismatches)
        if self._buffer:  # the engine always flushes; this guards direct use
            units = self._take_units(len(self._buffer))
            self._recorded(self._write_part(*self._take(len(self._buffer))), units)
        self._ensure_dir()
        parts = sorted(self._parts, key=lambda p: p["path"])
        failures_path = None
        if report.failures:
            body = "".join(json.dumps(f, separators=(",", ":")) + "\n" for f in failure_dicts(report))
            self._write_bytes(self.failures_name, body.encode())
            failures_path = self.failures_name
        keep = {p["path"] for p in parts} | {self.manifest_name}
        if failures_path:
            keep.add(failures_path)
        for child in self._children():
            name = child.name
            if name in keep:
                continue
            if self._part_re.match(name) or name == self.failures_name:
                child.unlink()
        records = sum(p["records"] for p in parts)
        manifest = {
            "format": MANIFEST_FORMAT,
            **self.meta.to_dict(),
            "compression": self.compression,
            "records": records,
            "parts": parts,
            "failures": {"path": failures_path, "count": report.failed} if failures_path else None,
            "report": {
                k: v
                for k, v in report.to_dict(max_failures=0, max_streams=defaults.SUMMARY_STREAMS).items()
                if k != "failures"
            },
            **(extra or {}),
        }
        self._write_bytes(self.manifest_name, (json.dumps(manifest, indent=2) + "\n").encode())
        return {
            "store": self.kind,
            "directory": redact_url(str(self.directory)),
            "manifest": self._url(self.manifest_name),
            "paths": self.saved_data(),
            "records": records,
            "failures_path": self._url(failures_path) if failures_path else None,
            **(extra or {}),
        }

    # -- helpers -------------------------------------------------------------------------------------

    def _lines(self, items: list[Any]) -> list[str]:
        dumps = json.dumps
        return [
            dumps(r, separators=(",", ":")) for r in iter_records(items, self.record_path, self._mismatches)
        ]

    def _cut(self) -> int:
        """Records for the next part: ``records_per_part``, or with units the first response boundary at or
        after it (a part holds whole responses, so the units recorded with it are complete)."""
        size = self.records_per_part
        for _, end in self._pending:
            if end >= size:
                return end
        return size

    def _take_units(self, n: int) -> list[Any]:
        """The units whose records are all within the first ``n`` buffered lines; shift the rest."""
        pending = self._pending
        k = 0
        while k < len(pending) and pending[k][1] <= n:
            k += 1
        units = [unit for unit, _ in pending[:k]]
        self._pending = [(unit, end - n) for unit, end in pending[k:]]
        return units

    async def _write_taken(self, n: int) -> None:
        """Write the first ``n`` buffered records as a part and record its units. The write and its record
        run as one shielded task: a cancel (the task being killed) cannot leave a part on disk that the
        checkpoint does not know; :meth:`flush` waits for such a write."""
        units = self._take_units(n)
        name, lines = self._take(n)

        async def write_and_record() -> None:
            part = await asyncio.to_thread(self._write_part, name, lines)
            self._recorded(part, units)

        task = asyncio.ensure_future(write_and_record())
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)
        await asyncio.shield(task)

    def _recorded(self, part: dict[str, Any] | None, units: list[Any]) -> None:
        if self._on_part is not None and (part is not None or units):
            self._on_part(part, units)

    def _take(self, n: int) -> tuple[str, list[str]]:
        """Cut ``n`` lines off the buffer and reserve the next part name (synchronously: no await between)."""
        lines, self._buffer = self._buffer[:n], self._buffer[n:]
        name = f"{self._part_prefix}{self._next_seq:05d}{self._part_suffix}"
        self._next_seq += 1
        return name, lines

    def _write_part(self, name: str, lines: list[str]) -> dict[str, Any]:
        data = ("\n".join(lines) + "\n").encode()
        if self.compression == "gzip":
            data = gzip.compress(data, compresslevel=6, mtime=0)  # mtime=0: same records -> same bytes
        self._write_bytes(name, data)
        part = {"path": name, "records": len(lines), "bytes": len(data)}
        self._parts.append(part)
        if self.observer is not None:
            self.observer.on_records(len(lines), len(data))
        return part

    def _ensure_dir(self) -> None:
        if not self._dir_ready:
            if self._local:  # object stores have no directories: a key prefix exists once a key does
                self.directory.mkdir(parents=True, exist_ok=True)
            self._dir_ready = True

    def _children(self) -> list[ObjectStoragePath]:
        try:
            return list(self.directory.iterdir())
        except FileNotFoundError:  # an object-store prefix with no keys yet
            return []

    def _write_bytes(self, name: str, data: bytes) -> None:
        self._ensure_dir()
        target = self.directory / name
        if self._local:
            final = target.path
            tmp = os.path.join(os.path.dirname(final), f".{name}.tmp-{uuid.uuid4().hex}")
            try:
                with open(tmp, "wb") as fh:
                    fh.write(data)
                os.replace(tmp, final)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        else:
            target.write_bytes(data)  # one PUT: atomic on object stores

    def _url(self, name: str) -> str:
        return redact_url(str(self.directory / name))

    def __repr__(self) -> str:
        return f"ObjectStorageStore({self._url('')!r}, parts={len(self._parts)})"
