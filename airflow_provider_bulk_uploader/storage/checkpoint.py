"""Progress that survives a try: which units of a fetch are durably stored, and in which part.

A *unit* is one request URL of the operator's plan (one chunk x id), keyed by its ordinal in the plan
(``UrlPlan`` order is deterministic: chunks, then ids); the arithmetic on units lives in :mod:`.units`. The
plan's fingerprint (``UrlPlan.fingerprint()``) is saved with the units, so a changed plan (other ids, another
endpoint) never skips the wrong URLs: it starts clean.

With pagination a unit is a stream (its start URL's ordinal) and a *page position* inside it is a unit of
progress: ``streams`` maps the ordinal of a stream stored in part to the positions of its stored pages (as
ranges) and ``last``, the furthest stored page that decided what follows it, with that decision (the next
page's URL for link/cursor styles; the fanned-out pages, as ``base``/``param``/``values`` or a list, for
offset/page number). A stream whose pages are all stored moves to ``streams_done`` (counted as a unit).

Every part the object-storage store writes is recorded here *after* it is written, with the units whose
records it holds (a part only ever holds whole responses). Where the record goes:

* the task state store (``context["task_state_store"]``, one namespace per dag run, task and map index, kept
  across retries and deferrals), key :data:`~..engine.defaults.PROGRESS_STATE_KEY`;
* when the context has none (a task run outside a dag run): a small journal ``_progress[-mNNNNN].json`` next
  to the parts, written atomically, deleted when the task finishes.

A try that finds an unfinished record of the same run and plan *resumes*: it skips the stored units, writes
new parts after the recorded ones and the final manifest lists them all. Anything else starts clean.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any

from airflow_provider_bulk_uploader.engine import defaults
from airflow_provider_bulk_uploader.storage.units import (
    RemainingUnits,
    count_units,
    merge_ranges,
    stream_pages,
)

__all__ = [
    "PROGRESS_FORMAT",
    "JournalBackend",
    "Progress",
    "StateStoreBackend",
    "open_progress",
    "task_state_store",
]

log = logging.getLogger(__name__)

PROGRESS_FORMAT = "bulk-fetch-progress/1"


class StateStoreBackend:
    """The checkpoint in Airflow's task state store (Airflow 3.3+)."""

    name = "task state store"

    def __init__(self, accessor: Any, key: str = defaults.PROGRESS_STATE_KEY) -> None:
        self.accessor = accessor
        self.key = key

    def load(self) -> dict[str, Any] | None:
        value = self.accessor.get(self.key)
        return value if isinstance(value, dict) else None

    def save(self, state: dict[str, Any]) -> None:
        self.accessor.set(self.key, state)

    def finish(self, state: dict[str, Any]) -> None:
        """Keep the finished record (visible in the UI/API; a rerun of the run starts clean)."""
        self.accessor.set(self.key, state)


class JournalBackend:
    """The checkpoint as a JSON journal next to the parts (when no task state store is available)."""

    name = "progress journal"

    def __init__(self, store: Any) -> None:
        self.store = store
        self.file_name = f"_progress{store.tag}.json"

    def load(self) -> dict[str, Any] | None:
        try:
            raw = (self.store.directory / self.file_name).read_bytes()
        except FileNotFoundError:
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            log.warning("ignoring an unreadable progress journal %s", self.file_name)
            return None
        return value if isinstance(value, dict) else None

    def save(self, state: dict[str, Any]) -> None:
        self.store._write_bytes(self.file_name, json.dumps(state, separators=(",", ":")).encode())

    def finish(self, state: dict[str, Any]) -> None:
        """The manifest now says it all: remove the journal (a rerun of the interval starts clean)."""
        with contextlib.suppress(FileNotFoundError):
            (self.store.directory / self.file_name).unlink()


class Progress:
    """The units stored so far for one task instance, and where they are recorded.

    :attr resumed_from_try: the try whose checkpoint this one resumes (``None``: a clean start).
    :attr units_skipped: units already stored when this try (or resumed deferral) started.
    :attr units_fetched: units stored by this try so far.
    """

    def __init__(
        self,
        backend: StateStoreBackend | JournalBackend,
        *,
        run_id: str | None,
        try_number: int | None,
        plan_key: str,
        total: int,
        previous: Mapping[str, Any] | None,
    ) -> None:
        self.backend = backend
        self.state: dict[str, Any] = {
            "format": PROGRESS_FORMAT,
            "run_id": run_id,
            "plan": plan_key,
            "units_total": total,
            "try_number": try_number,
            "finished": False,
            "parts": [],
            "empty_units": [],
            "streams": {},
            "streams_done": [],
        }
        self.resumed_from_try: int | None = None
        self.reason = "no checkpoint"
        if previous is not None:
            self.reason = self._resumable(previous, run_id, plan_key)
            if not self.reason:
                self.state["parts"] = list(previous.get("parts") or [])
                self.state["empty_units"] = list(previous.get("empty_units") or [])
                self.state["streams"] = dict(previous.get("streams") or {})
                self.state["streams_done"] = list(previous.get("streams_done") or [])
                self.resumed_from_try = previous.get("try_number")
        self.done = merge_ranges(
            [r for p in self.state["parts"] for r in p.get("units", [])]
            + self.state["empty_units"]
            + self.state["streams_done"]
        )
        self.units_skipped = count_units(self.done)
        self.units_fetched = 0
        self.pages_skipped = sum(count_units(e.get("stored") or []) for e in self.state["streams"].values())
        self.pages_fetched = 0
        #: whether the run is paginated (set by :func:`open_progress`): adds page figures to the summary
        self.paginated = False

    @staticmethod
    def _resumable(previous: Mapping[str, Any], run_id: str | None, plan_key: str) -> str:
        """Why ``previous`` cannot be resumed ('' when it can)."""
        if previous.get("format") != PROGRESS_FORMAT:
            return f"unknown checkpoint format {previous.get('format')!r}"
        if previous.get("finished"):
            return "the last run of this task instance finished (a rerun starts clean)"
        if previous.get("run_id") != run_id:
            return "the checkpoint belongs to another run"
        if previous.get("plan") != plan_key:
            return "the URLs to fetch changed since the checkpoint"
        return ""

    @property
    def resumed(self) -> bool:
        return self.resumed_from_try is not None or bool(self.state["parts"])

    @property
    def parts(self) -> list[dict[str, Any]]:
        return self.state["parts"]

    def remaining(self, plan: Any) -> RemainingUnits:
        """The plan's URLs still to fetch, as ``StartURL`` (a partly stored stream with the pages it
        continues with)."""
        resume = {}
        for key, entry in self.state["streams"].items():
            pages = stream_pages(entry)
            if pages:
                resume[int(key)] = pages
        return RemainingUnits(plan, self.done, resume)

    def record_part(self, part: Mapping[str, Any] | None, units: list[Any]) -> None:
        """Record that ``part`` (``None``: units whose responses held no record) is durably written with
        the records of ``units`` (ordinals; with pagination also ``(ordinal, position, after)`` pages);
        saved at once."""
        whole = [u for u in units if isinstance(u, int)]
        pages = [u for u in units if not isinstance(u, int)]
        if pages:
            self._record_pages(pages)
        if part is None:
            if not units:
                return
            if whole:
                self.state["empty_units"] = merge_ranges(self.state["empty_units"], whole)
        else:
            if isinstance(part, dict) and self.state["try_number"] is not None:
                part["try"] = self.state["try_number"]  # shown per part in the manifest
            self.state["parts"].append({**part, "units": merge_ranges((), whole)})
        self.units_fetched += len(whole)
        self.backend.save(self.state)

    def _record_pages(self, pages: list[Any]) -> None:
        """Add stored pages to their streams; a stream whose pages are all stored becomes a done unit."""
        streams = self.state["streams"]
        touched = set()
        for unit, number, after in pages:
            entry = streams.setdefault(str(unit), {"stored": [], "last": None})
            entry["stored"] = merge_ranges(entry["stored"], [int(number)])
            last = entry["last"]
            if after is not None and (last is None or int(number) >= int(last[0])):
                entry["last"] = [int(number), after]
            touched.add(str(unit))
        self.pages_fetched += len(pages)
        for key in touched:
            if stream_pages(streams[key]) is None:  # every page stored: the stream is a done unit
                del streams[key]
                self.state["streams_done"] = merge_ranges(self.state["streams_done"], [int(key)])
                self.units_fetched += 1

    def finish(self) -> None:
        """The task instance's output is complete: a later run (clear, backfill) starts clean."""
        self.state["finished"] = True
        self.backend.finish(self.state)

    def summary(self) -> dict[str, Any]:
        """What the summary XCom and the manifest carry about resuming."""
        return {
            "resumed_from_try": self.resumed_from_try,
            "units_skipped": self.units_skipped,
            "units_fetched": self.units_fetched,
            "progress_backend": self.backend.name,
            **(
                {"pages_skipped": self.pages_skipped, "pages_fetched": self.pages_fetched}
                if self.paginated
                else {}
            ),
        }


def task_state_store(context: Mapping[str, Any]) -> Any:
    """Airflow's task state store accessor from the task context (``None`` before Airflow 3.3)."""
    return context.get("task_state_store")


def open_progress(
    context: Mapping[str, Any],
    store: Any,
    plan: Any,
    *,
    run_id: str | None,
    checkpoint_every: float | None = None,
    on_missing_part: Callable[[str], None] | None = None,
    pagination: Any = None,
) -> Progress:
    """Load the checkpoint of this task instance (task state store, else the journal next to ``store``'s
    parts), decide whether to resume, and attach it to ``store`` (prior parts + a callback per new part).
    ``pagination`` (the paginator's dict form, ``None`` without one) is part of the plan: changing it starts
    clean."""
    accessor = task_state_store(context)
    backend: StateStoreBackend | JournalBackend = (
        StateStoreBackend(accessor) if accessor is not None else JournalBackend(store)
    )
    ti = context.get("ti") or context.get("task_instance")
    try_number = getattr(ti, "try_number", None)
    previous = backend.load()
    progress = Progress(
        backend,
        run_id=run_id,
        try_number=try_number if isinstance(try_number, int) else None,
        plan_key=_plan_key(plan, pagination),
        total=len(plan),
        previous=previous,
    )
    if progress.parts:
        missing = [p["path"] for p in progress.parts if not store.has_part(p["path"])]
        if missing:
            if on_missing_part is not None:
                on_missing_part(missing[0])
            progress = Progress(
                backend,
                run_id=run_id,
                try_number=progress.state["try_number"],
                plan_key=progress.state["plan"],
                total=len(plan),
                previous=None,
            )
            progress.reason = f"recorded part {missing[0]} is missing"
    progress.paginated = pagination is not None
    store.resume(progress.parts, progress.record_part, checkpoint_every=checkpoint_every)
    return progress


def _plan_key(plan: Any, pagination: Any) -> str:
    key = plan.fingerprint()
    if pagination is None:
        return key
    extra = json.dumps(pagination, sort_keys=True, default=str).encode()
    return hashlib.sha256(key.encode() + b"|" + extra).hexdigest()[:32]
