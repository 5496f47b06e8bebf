"""``BulkFetchOperator``: fetch many API URLs (date chunks x ids) into XCom or object storage."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from airflow.sdk import BaseOperator, conf
from airflow.sdk.exceptions import AirflowException

from airflow_provider_bulk_uploader import FetchReport
from airflow_provider_bulk_uploader.engine import LongWait, defaults
from airflow_provider_bulk_uploader.engine.validation import require_int
from airflow_provider_bulk_uploader.exceptions import BulkFetchConfigError, BulkFetchFailuresError
from airflow_provider_bulk_uploader.hooks.bulk_fetch import DEFAULT_CONN_ID, BulkFetchHook
from airflow_provider_bulk_uploader.operators._lineage import DataAwareOutputsMixin
from airflow_provider_bulk_uploader.storage import (
    XCOM_RECORDS_KEY,
    ObjectStorageStore,
    RunMeta,
    XComStore,
    make_store,
)
from airflow_provider_bulk_uploader.storage.base import check_record_path, failure_dicts
from airflow_provider_bulk_uploader.storage.checkpoint import Progress, open_progress
from airflow_provider_bulk_uploader.storage.object_storage import COMPRESSIONS
from airflow_provider_bulk_uploader.storage.xcom import DEFAULT_XCOM_MAX_BYTES
from airflow_provider_bulk_uploader.utils.intervals import (
    Interval,
    coerce_datetime,
    resolve_interval,
    split_interval,
)
from airflow_provider_bulk_uploader.utils.pagination import (
    check_pagination,
    pagination_summary,
    resolve_pagination,
)
from airflow_provider_bulk_uploader.utils.urls import UrlPlan, coerce_ids, placeholders_in

__all__ = ["BulkFetchFailuresError", "BulkFetchOperator"]

#: Failures listed in the XCom summary (all of them go to the failure report in object storage).
SUMMARY_FAILURES = defaults.SUMMARY_FAILURES


class BulkFetchOperator(DataAwareOutputsMixin, BaseOperator):
    """Fetch ``endpoint`` for every chunk of the data interval (and every id), politely, into a store.

    :param endpoint: path relative to the connection's base URL, or an absolute URL. May contain ``{start}``/
        ``{end}`` (chunk bounds, ISO 8601; ``{start:%Y-%m-%d}`` works) and ``{id}`` (templated).
    :param bulk_fetch_conn_id: the ``bulk_fetch`` connection (default ``bulk_fetch_default``; templated).
    :param query_params: query parameters; string values may hold the same placeholders (templated).
    :param ids: ids for ``{id}``: a list, or ``{"start": a, "end": b[, "step": s]}`` (end exclusive;
        templated).
        Without ``{id}`` in the endpoint, ``/{id}`` is appended to its path.
    :param delta_days: chunk length in days when the endpoint uses ``{start}``/``{end}`` (default 1).
    :param start: explicit interval start, overriding the run's ``data_interval_start`` (templated).
    :param end: explicit interval end, exclusive, overriding ``data_interval_end`` (templated).
    :param store: ``"xcom"`` (default; records pushed under XCom key ``records``) or an object-storage
        location: an ``ObjectStoragePath`` or URL such as ``file:///data/x`` or ``s3://aws_default@bucket/x``
        (templated).
    :param max_failures: the task fails when more requests than this fail (default 0), after writing what
        succeeded.
    :param record_path: ``None`` (default): each response body is one record; ``"."``: the body is a JSON
        list of records; ``"data.items"``: the list at that dotted path. A body without that list counts as
        a failed request (``max_failures``, failure report); an empty body (204) holds no records.
    :param rate_limit_requests: override of the connection's requests per period.
    :param rate_limit_period_seconds: override of the connection's rate-limit period (seconds).
    :param max_concurrency: override of the connection's requests in flight.
    :param timeout_seconds: override of the connection's per-attempt timeout (seconds).
    :param retry_max_attempts: attempts per URL including the first (default: the engine's, 5).
    :param xcom_max_bytes: refuse XCom results above this many bytes of JSON (default 1 MiB).
    :param compression: object storage parts: ``"gzip"`` (default) or ``"none"``.
    :param records_per_part: records per object-storage part file (default 10 000).
    :param http_backend: engine transport, ``"aiohttp"`` (default) or ``"httpx"`` (mockable with respx).
    :param deferrable: with an object-storage ``store``, a pause longer than ``defer_after_seconds`` (a
        429/503 ``Retry-After``, a quota reset) flushes and checkpoints what succeeded and defers the task to
        the triggerer (``DateTimeTrigger``) until it may resume, freeing the worker slot. Default: Airflow's
        ``[operators] default_deferrable`` (``False`` unless configured).
    :param defer_after_seconds: the longest pause sat out in the worker (default 60 s).
    :param checkpoint_every_seconds: with object storage, write buffered records as a part (and record
        them) once the oldest is this old (default 60 s; ``None``: only every ``records_per_part``), which
        bounds what a crash without a flush (kill -9, OOM) makes the next try fetch again.

    With an object-storage ``store``, progress survives a try: every written part is recorded (task state
    store on Airflow 3.3+, else a ``_progress*.json`` journal next to the parts), and a retry (or a
    resumed deferral) fetches only the units not yet stored. See ``docs/retries-resume-deferral.md``.
    :param pagination: ``None`` (default): one request per URL. Else every URL is the first page of a stream:
        a paginator object, ``"auto"``, or a dict such as ``{"type": "cursor", "cursor_path":
        "meta.next_cursor", "cursor_param": "cursor"}`` (types ``json_link``, ``header_link``, ``cursor``,
        ``header_cursor``, ``offset``, ``page_number``, ``single_page``, ``auto``; templated). See
        ``docs/pagination.md``.

    Returns (XCom ``return_value``) a small summary: request counts, the interval, the store's paths, and the
    first failures (redacted).
    """

    template_fields: Sequence[str] = (
        "endpoint",
        "bulk_fetch_conn_id",
        "query_params",
        "ids",
        "store",
        "start",
        "end",
        "pagination",
    )
    template_fields_renderers = {"query_params": "json", "ids": "json", "pagination": "json"}
    ui_color = "#e8f4fa"

    def __init__(
        self,
        *,
        endpoint: str,
        bulk_fetch_conn_id: str = DEFAULT_CONN_ID,
        query_params: Mapping[str, Any] | None = None,
        ids: Any = None,
        delta_days: int = 1,
        start: Any = None,
        end: Any = None,
        store: Any = "xcom",
        max_failures: int = 0,
        record_path: str | None = None,
        rate_limit_requests: int | None = None,
        rate_limit_period_seconds: float | None = None,
        max_concurrency: int | None = None,
        timeout_seconds: float | None = None,
        retry_max_attempts: int | None = None,
        xcom_max_bytes: int = DEFAULT_XCOM_MAX_BYTES,
        compression: str = "gzip",
        records_per_part: int = defaults.RECORDS_PER_PART,
        http_backend: defaults.HttpBackend = defaults.HTTP_BACKEND,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        defer_after_seconds: float = defaults.DEFER_AFTER_SECONDS,
        checkpoint_every_seconds: float | None = defaults.CHECKPOINT_EVERY_SECONDS,
        pagination: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (
            isinstance(defer_after_seconds, bool)
            or not isinstance(defer_after_seconds, (int, float))
            or not defer_after_seconds >= 0
        ):
            raise BulkFetchConfigError(
                f"defer_after_seconds must be a number of seconds >= 0, got {defer_after_seconds!r}"
            )
        require_int("max_failures", max_failures, 0, error=BulkFetchConfigError)
        require_int("delta_days", delta_days, 1, error=BulkFetchConfigError)
        require_int("records_per_part", records_per_part, 1, error=BulkFetchConfigError)
        if compression not in COMPRESSIONS:
            raise BulkFetchConfigError(f"compression must be one of {COMPRESSIONS}, got {compression!r}")
        if http_backend not in defaults.HTTP_BACKENDS:
            raise BulkFetchConfigError(
                f"http_backend must be one of {defaults.HTTP_BACKENDS}, got {http_backend!r}"
            )
        self.endpoint = endpoint
        self.bulk_fetch_conn_id = bulk_fetch_conn_id
        self.query_params = query_params
        self.ids = ids
        self.delta_days = delta_days
        self.start = start
        self.end = end
        self.store = store
        self.max_failures = max_failures
        self.record_path = check_record_path(record_path)
        self.rate_limit_requests = rate_limit_requests
        self.rate_limit_period_seconds = rate_limit_period_seconds
        self.max_concurrency = max_concurrency
        self.timeout_seconds = timeout_seconds
        self.retry_max_attempts = retry_max_attempts
        self.xcom_max_bytes = xcom_max_bytes
        self.compression = compression
        self.records_per_part = records_per_part
        self.http_backend = http_backend
        self.deferrable = bool(deferrable)
        self.defer_after_seconds = float(defer_after_seconds)
        if checkpoint_every_seconds is not None and (
            isinstance(checkpoint_every_seconds, bool)
            or not isinstance(checkpoint_every_seconds, (int, float))
            or not checkpoint_every_seconds >= 0
        ):
            raise BulkFetchConfigError(
                "checkpoint_every_seconds must be None or a number of seconds >= 0, "
                f"got {checkpoint_every_seconds!r}"
            )
        self.checkpoint_every_seconds = checkpoint_every_seconds
        self.pagination = check_pagination(pagination, self.record_path)
        self._hook: BulkFetchHook | None = None

    # -- planning ------------------------------------------------------------------------------------

    def _plan(self, context: Mapping[str, Any], base_url: str) -> tuple[UrlPlan, Interval | None]:
        if not isinstance(self.endpoint, str):
            raise BulkFetchConfigError(f"endpoint must be a string, got {type(self.endpoint).__name__}")
        if self.query_params is not None and not isinstance(self.query_params, Mapping):
            raise BulkFetchConfigError(
                f"query_params must be a dict of query parameters, got {type(self.query_params).__name__}"
            )
        used = placeholders_in(self.endpoint, self.query_params)
        ids = coerce_ids(self.ids)
        if "id" in used and ids is None:
            raise BulkFetchConfigError(
                f"endpoint/query_params use {{id}} but ids is not set: {self.endpoint!r}"
            )
        interval: Interval | None
        if used & {"start", "end"}:
            interval = resolve_interval(context, self.start, self.end)
            chunks: list[Interval | None] = list(split_interval(interval, self.delta_days))
        else:
            interval = self._optional_interval(context)
            chunks = [None]
        return UrlPlan(base_url, self.endpoint, self.query_params, chunks, ids), interval

    def _optional_interval(self, context: Mapping[str, Any]) -> Interval | None:
        """The interval used only to name output when the endpoint has no date placeholder."""
        lo = coerce_datetime("start", self.start) or coerce_datetime(
            "data_interval_start", context.get("data_interval_start")
        )
        hi = coerce_datetime("end", self.end) or coerce_datetime(
            "data_interval_end", context.get("data_interval_end")
        )
        return Interval(lo, hi) if lo is not None and hi is not None and lo <= hi else None

    @staticmethod
    def _run_meta(context: Mapping[str, Any], interval: Interval | None) -> RunMeta:
        ti = context.get("ti") or context.get("task_instance")
        map_index = getattr(ti, "map_index", -1)
        map_index = map_index if isinstance(map_index, int) and map_index >= 0 else -1
        run_id = context.get("run_id") or getattr(ti, "run_id", None)
        if interval is not None:
            partition = interval.token()
        elif run_id:
            partition = "run_id=" + re.sub(r"[^A-Za-z0-9._-]+", "_", str(run_id))
        else:
            raise BulkFetchConfigError("cannot name the output: no interval and no run_id in the context")
        dag = context.get("dag")
        return RunMeta(
            dag_id=getattr(dag, "dag_id", None) or getattr(ti, "dag_id", None),
            task_id=getattr(ti, "task_id", None),
            run_id=run_id,
            map_index=map_index,
            interval=interval,
            partition=partition,
        )

    # -- execution -----------------------------------------------------------------------------------

    def execute(self, context: Any) -> dict[str, Any]:
        return self._fetch(context)

    def execute_complete(self, context: Any, event: Any = None) -> dict[str, Any]:
        """Resume after a deferred pause: fetch the units the checkpoint does not hold yet."""
        self.log.info("Bulk fetch: resuming after the deferred pause (%s)", event)
        return self._fetch(context)

    def _fetch(self, context: Any) -> dict[str, Any]:
        hook = BulkFetchHook(bulk_fetch_conn_id=self.bulk_fetch_conn_id)
        self._hook = hook
        settings = hook.get_settings().with_overrides(
            rate_limit_requests=self.rate_limit_requests,
            rate_limit_period_seconds=self.rate_limit_period_seconds,
            max_concurrency=self.max_concurrency,
            timeout_seconds=self.timeout_seconds,
        )
        plan, interval = self._plan(context, settings.base_url)
        meta = self._run_meta(context, interval)
        store = make_store(
            self.store,
            meta,
            record_path=self.record_path,
            xcom_max_bytes=self.xcom_max_bytes,
            compression=self.compression,
            records_per_part=self.records_per_part,
        )
        progress: Progress | None = None
        urls: Any = plan
        paging = self._pagination_kwargs()
        if isinstance(store, ObjectStorageStore):
            # with pagination a page position is a unit of progress too (see storage/checkpoint.py)
            paginator = paging.get("paginator")
            progress = open_progress(
                context,
                store,
                plan,
                run_id=meta.run_id,
                checkpoint_every=self.checkpoint_every_seconds,
                pagination=None if paginator is None else paginator.to_dict(),
            )
            urls = progress.remaining(plan)
            self._log_start(progress, len(plan))
        paginated = paging.get("paginator") is not None  # a stream may have many pages: no cap by count
        self.log.info(
            "Bulk fetch: %d %s (%d chunk(s)) into %r; rate limit %s, concurrency %d",
            len(urls),
            "paginated streams" if paginated else "requests",
            len(plan.chunks),
            store,
            settings.describe_rate_limit(),
            settings.effective_concurrency(None if paginated else len(plan)),
        )
        try:
            report = hook.fetch(
                urls,
                store,
                settings=settings,
                retry_max_attempts=self.retry_max_attempts,
                http_backend=self.http_backend,
                # only a checkpointed store can stop and resume: the XCom store sits every pause out
                max_wait=self.defer_after_seconds if self.deferrable and progress is not None else None,
                **paging,
            )
        except LongWait as stop:
            self._defer_for(stop, progress)
        except asyncio.CancelledError:
            stored = (
                f"; {progress.units_skipped + progress.units_fetched} of {len(plan)} units are stored and "
                f"recorded in the {progress.backend.name}: the next try fetches only the rest"
                if progress is not None
                else ""
            )
            raise AirflowException(f"bulk fetch was cancelled (task killed){stored}") from None
        resume = progress.summary() if progress is not None else {}
        output = (
            store.finalize(report, resume)
            if isinstance(store, ObjectStorageStore)
            else store.finalize(report)
        )
        if isinstance(store, XComStore):
            context["ti"].xcom_push(key=XCOM_RECORDS_KEY, value=store.saved_data())
        summary = {**self._summary(report, interval, len(plan.chunks), output), **pagination_summary(report)}
        self._announce_outputs(context, summary)  # asset events (only if the task succeeds) + lineage
        self.log.info("Bulk fetch done: %s; output: %s", report, output)
        if progress is not None and report.failed <= self.max_failures:
            progress.finish()  # a later run of this task instance (clear, backfill) starts clean
        if report.failed > self.max_failures:
            where = output.get("failures_path") or "the task log"
            raise BulkFetchFailuresError(
                f"{report.failed} of {report.requested} requests failed, more than max_failures="
                f"{self.max_failures}; the {report.succeeded} successful responses were written "
                f"(failure report: {where}). First failures: {summary['failures'][:3]}"
            )
        return summary

    def _log_start(self, progress: Progress, total: int) -> None:
        if progress.units_skipped or progress.resumed_from_try is not None:
            self.log.info(
                "Bulk fetch: resuming from try %s: %d of %d units already stored in %d part(s) (%s), "
                "skipping them; %d to fetch",
                progress.resumed_from_try,
                progress.units_skipped,
                total,
                len(progress.parts),
                progress.backend.name,
                total - progress.units_skipped,
            )
            if progress.pages_skipped:
                self.log.info(
                    "Bulk fetch: %d page(s) of %d partly stored stream(s) already stored; those streams "
                    "continue after them",
                    progress.pages_skipped,
                    len(progress.state["streams"]),
                )
        else:
            self.log.info(
                "Bulk fetch: starting clean (%s); progress recorded in the %s",
                progress.reason,
                progress.backend.name,
            )

    def _defer_for(self, stop: LongWait, progress: Progress | None) -> None:
        """Hand the worker slot back until ``stop.until``: the flushed parts are checkpointed already."""
        from airflow.providers.standard.triggers.temporal import DateTimeTrigger

        moment = datetime.fromtimestamp(stop.until, tz=timezone.utc)
        stored = (progress.units_skipped + progress.units_fetched) if progress is not None else 0
        self.log.info(
            "Bulk fetch: the API asks for a %.0f s pause (> defer_after_seconds=%g); %d units stored and "
            "checkpointed; deferring until %s",
            stop.seconds,
            self.defer_after_seconds,
            stored,
            moment.isoformat(),
        )
        self.defer(
            trigger=DateTimeTrigger(moment=moment),
            method_name="execute_complete",
        )

    def _pagination_kwargs(self) -> dict[str, Any]:
        """The engine's paginator arguments (none at all without pagination: today's run, unchanged)."""
        paginator = resolve_pagination(self.pagination, self.record_path)
        return {} if paginator is None else {"paginator": paginator, "record_path": self.record_path}

    @staticmethod
    def _summary(
        report: FetchReport, interval: Interval | None, chunks: int, output: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "requested": report.requested,
            "succeeded": report.succeeded,
            "failed": report.failed,
            "attempts": report.attempts,
            "elapsed_seconds": round(report.elapsed_seconds, 3),
            **report.rate_limit_dict(),
            "interval": interval.to_dict() if interval else None,
            "chunks": chunks,
            **output,
            "failures": failure_dicts(report, SUMMARY_FAILURES),
        }

    def on_kill(self) -> None:
        """Cancel the in-flight fetch; the engine flushes what succeeded (recorded in the checkpoint) and
        closes its connections. Airflow calls it on SIGTERM to the task process."""
        if self._hook is not None:
            self._hook.cancel()
