"""``BulkFetchOperator``: fetch many API URLs (date chunks x ids) into XCom or object storage."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from airflow.sdk import BaseOperator, conf
from airflow.sdk.exceptions import AirflowException

from airflow_provider_bulk_uploader.engine import FetchReport, FetchSpec, LongWait, Paginator, defaults
from airflow_provider_bulk_uploader.engine.spec import NOT_GIVEN
from airflow_provider_bulk_uploader.engine.validation import require_int, require_seconds
from airflow_provider_bulk_uploader.exceptions import BulkFetchConfigError, BulkFetchFailuresError
from airflow_provider_bulk_uploader.hooks.bulk_fetch import DEFAULT_CONN_ID, BulkFetchHook, BulkFetchSettings
from airflow_provider_bulk_uploader.operators._lineage import DataAwareOutputsMixin
from airflow_provider_bulk_uploader.storage import (
    XCOM_RECORDS_KEY,
    ObjectStorageStore,
    RunMeta,
    StoreOptions,
    XComStore,
    make_store,
)
from airflow_provider_bulk_uploader.storage.base import failure_dicts
from airflow_provider_bulk_uploader.storage.checkpoint import Progress, open_progress
from airflow_provider_bulk_uploader.storage.xcom import DEFAULT_XCOM_MAX_BYTES
from airflow_provider_bulk_uploader.utils.extras import check_override
from airflow_provider_bulk_uploader.utils.intervals import (
    Interval,
    coerce_datetime,
    resolve_interval,
    split_interval,
)
from airflow_provider_bulk_uploader.utils.metrics import StatsObserver, metric_tags
from airflow_provider_bulk_uploader.utils.pagination import (
    check_pagination,
    pagination_summary,
    resolve_pagination,
)
from airflow_provider_bulk_uploader.utils.request_plan import (
    RequestPlan,
    body_placeholders,
    check_request_args,
    needs_request_plan,
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
    :param rate_limit_requests: override of the connection's requests per period (``None``: no rate limit
        for this task; not given: the connection's).
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
    :param method: ``"GET"`` (default), ``"POST"``, ``"PUT"`` or ``"PATCH"`` (templated).
    :param json: a JSON body template (templated): ``{start}``, ``{end}``, ``{id}`` and ``{ids}`` work in any
        string of it; a value that is exactly ``"{ids}"`` becomes the JSON list of the request's ids.
    :param data: a form body (a dict, like ``query_params``) or a raw string body; not with ``json``
        (templated).
    :param headers: extra headers for this task's requests, over the connection's (templated).
    :param ids_per_request: ids per request (default 1): the ids of each chunk are grouped N at a time, and
        one group is one request, one unit of progress and one failure record (listing its ids). Needs
        ``{ids}`` where the API takes them (endpoint, query_params, json or data).
    :param ids_separator: what joins ``{ids}`` in a string (default ``","``).
    :param ids_style: ``"join"`` (default: ``ids=1,2,3``) or ``"repeat"`` (a query parameter whose value is
        exactly ``"{ids}"`` repeated once per id: ``id=1&id=2``).
    :param retry_non_idempotent: retry a ``POST``/``PATCH`` like a ``GET`` (for read-only POSTs: search,
        GraphQL queries). Default ``False``: only when the server cannot have processed it (connection
        refused, 429, 503 with ``Retry-After``). See ``docs/batch-post-graphql.md``.

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
        "method",
        "json",
        "data",
        "headers",
    )
    template_fields_renderers = {
        "query_params": "json",
        "ids": "json",
        "pagination": "json",
        "json": "json",
        "data": "json",
        "headers": "json",
    }
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
        rate_limit_requests: int | None = NOT_GIVEN,  # type: ignore[assignment]
        rate_limit_period_seconds: float | None = NOT_GIVEN,  # type: ignore[assignment]
        max_concurrency: int | None = NOT_GIVEN,  # type: ignore[assignment]
        timeout_seconds: float | None = NOT_GIVEN,  # type: ignore[assignment]
        retry_max_attempts: int | None = None,
        xcom_max_bytes: int = DEFAULT_XCOM_MAX_BYTES,
        compression: str = "gzip",
        records_per_part: int = defaults.RECORDS_PER_PART,
        http_backend: defaults.HttpBackend = defaults.HTTP_BACKEND,
        deferrable: bool = conf.getboolean("operators", "default_deferrable", fallback=False),
        defer_after_seconds: float = defaults.DEFER_AFTER_SECONDS,
        checkpoint_every_seconds: float | None = defaults.CHECKPOINT_EVERY_SECONDS,
        pagination: Any = None,
        method: str = defaults.HTTP_METHOD,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        ids_per_request: int = defaults.IDS_PER_REQUEST,
        ids_separator: str = defaults.IDS_SEPARATOR,
        ids_style: str = defaults.IDS_STYLE,
        retry_non_idempotent: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        request_args = check_request_args(
            endpoint=endpoint,
            method=method,
            json_body=json,
            data=data,
            headers=headers,
            ids_per_request=ids_per_request,
            ids_separator=ids_separator,
            ids_style=ids_style,
            retry_non_idempotent=retry_non_idempotent,
        )
        self.method = request_args["method"]
        self.json = json
        self.data = data
        self.headers = request_args["headers"]
        self.ids_per_request = ids_per_request
        self.ids_separator = ids_separator
        self.ids_style = ids_style
        self.retry_non_idempotent = retry_non_idempotent
        require_int("max_failures", max_failures, 0, error=BulkFetchConfigError)
        require_int("delta_days", delta_days, 1, error=BulkFetchConfigError)
        if retry_max_attempts is not None:
            require_int("retry_max_attempts", retry_max_attempts, 1, error=BulkFetchConfigError)
        #: how the store writes (validated once, here: a bad value fails when the DAG is parsed)
        self.store_options = StoreOptions(
            record_path,
            xcom_max_bytes=xcom_max_bytes,
            compression=compression,
            records_per_part=records_per_part,
        )
        try:
            FetchSpec(http_backend=http_backend)  # the engine's one check of the setting, at parse time
            self.defer_after_seconds = require_seconds(
                "defer_after_seconds", defer_after_seconds, allow_zero=True
            )
            if checkpoint_every_seconds is not None:
                require_seconds("checkpoint_every_seconds", checkpoint_every_seconds, allow_zero=True)
        except (TypeError, ValueError) as exc:
            raise BulkFetchConfigError(str(exc)) from None
        #: the task's overrides of the connection, checked by the connection's own rows now and again after
        #: the connection is read (NOT_GIVEN: the connection's value)
        self.overrides = {
            "rate_limit_requests": rate_limit_requests,
            "rate_limit_period_seconds": rate_limit_period_seconds,
            "max_concurrency": max_concurrency,
            "timeout_seconds": timeout_seconds,
        }
        for name, value in self.overrides.items():
            check_override(name, value)
        self.endpoint = endpoint
        self.bulk_fetch_conn_id = bulk_fetch_conn_id
        self.query_params = query_params
        self.ids = ids
        self.delta_days = delta_days
        self.start = start
        self.end = end
        self.store = store
        self.max_failures = max_failures
        self.record_path = self.store_options.record_path
        self.retry_max_attempts = retry_max_attempts
        self.http_backend = http_backend
        self.deferrable = bool(deferrable)
        self.checkpoint_every_seconds = checkpoint_every_seconds
        self.pagination = check_pagination(pagination, self.record_path)
        body_cursor = isinstance(self.pagination, Mapping) and self.pagination.get("cursor_body_path")
        if body_cursor and json is None:
            raise BulkFetchConfigError(
                f"pagination cursor_body_path {body_cursor!r} writes the cursor into the JSON body: give "
                "json= (e.g. a GraphQL {'query': ..., 'variables': {...}}) and method='POST'"
            )
        self._hook: BulkFetchHook | None = None

    # -- planning ------------------------------------------------------------------------------------

    def _plan(
        self, context: Mapping[str, Any], base_url: str
    ) -> tuple[UrlPlan | RequestPlan, Interval | None]:
        if not isinstance(self.endpoint, str):
            raise BulkFetchConfigError(f"endpoint must be a string, got {type(self.endpoint).__name__}")
        if self.query_params is not None and not isinstance(self.query_params, Mapping):
            raise BulkFetchConfigError(
                f"query_params must be a dict of query parameters, got {type(self.query_params).__name__}"
            )
        used = placeholders_in(self.endpoint, self.query_params)
        used |= body_placeholders(self.json) | body_placeholders(self.data)
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
        if needs_request_plan(self.method, self.json, self.data, self.ids_per_request, used):
            check_request_args(  # once more, rendered
                endpoint=self.endpoint,
                method=self.method,
                json_body=self.json,
                data=self.data,
                headers=self.headers,
                ids_per_request=self.ids_per_request,
                ids_separator=self.ids_separator,
                ids_style=self.ids_style,
                retry_non_idempotent=self.retry_non_idempotent,
            )
            plan = RequestPlan(
                base_url,
                self.endpoint,
                self.query_params,
                chunks,
                ids,
                method=self.method,
                json=self.json,
                data=self.data,
                ids_per_request=self.ids_per_request,
                ids_separator=self.ids_separator,
                ids_style=self.ids_style,
            )
            return plan, interval
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
        """One try (or one resumed deferral): read the connection, plan, open the store and its progress,
        fetch, then write the outputs and decide the task's outcome."""
        hook = self._hook = BulkFetchHook(bulk_fetch_conn_id=self.bulk_fetch_conn_id)
        settings = hook.get_settings().with_overrides(**self.overrides)
        plan, interval = self._plan(context, settings.base_url)
        meta = self._run_meta(context, interval)
        metrics = StatsObserver(
            metric_tags(
                conn_id=self.bulk_fetch_conn_id,
                dag_id=meta.dag_id,
                task_id=meta.task_id,
                rate_limit_key=settings.rate_limit_key if settings.rate_limit_scope == "shared" else None,
            )
        )
        store = make_store(self.store, meta, self.store_options, observer=metrics)
        paginator = resolve_pagination(self.pagination, self.record_path)
        progress = self._open_progress(context, store, plan, meta, paginator)
        urls: Any = plan if progress is None else progress.remaining(plan)
        spec = self._spec(hook, settings, paginator, checkpointed=progress is not None)
        spec = spec.replace(observer=metrics)  # Airflow metrics for every request (utils/metrics.py)
        self._log_plan(urls, plan, store, spec, settings)
        try:
            report = self._run(hook, urls, store, spec, progress, len(plan))
            return self._finish(context, report, store, progress, interval, plan, metrics)
        finally:
            metrics.flush()  # what was stored after the run (XCom records, a last part), a deferral, a kill

    def _open_progress(
        self,
        context: Any,
        store: Any,
        plan: UrlPlan | RequestPlan,
        meta: RunMeta,
        paginator: Paginator | None,
    ) -> Progress | None:
        """With object storage, the checkpoint of this task instance (``None`` for the XCom store): what an
        earlier try stored is skipped. With pagination a page position is a unit of progress too."""
        if not isinstance(store, ObjectStorageStore):
            return None
        progress = open_progress(
            context,
            store,
            plan,
            run_id=meta.run_id,
            checkpoint_every=self.checkpoint_every_seconds,
            pagination=None if paginator is None else paginator.to_dict(),
        )
        self._log_start(progress, len(plan))
        return progress

    def _spec(
        self,
        hook: BulkFetchHook,
        settings: BulkFetchSettings,
        paginator: Paginator | None,
        *,
        checkpointed: bool,
    ) -> FetchSpec:
        """The engine's spec for this try: the connection (with the task's overrides) and the run's own
        settings. Only a checkpointed store can stop and resume, so only then may a long pause defer."""
        spec = hook.build_spec(
            settings,
            retry_max_attempts=self.retry_max_attempts,
            http_backend=self.http_backend,
            max_wait=self.defer_after_seconds if self.deferrable and checkpointed else None,
            retry_non_idempotent=self.retry_non_idempotent,
            # without a paginator the store applies record_path to each body (one request, one item)
            **({} if paginator is None else {"paginator": paginator, "record_path": self.record_path}),
        )
        if self.headers:  # the task's headers over the connection's
            try:
                spec = spec.replace(headers={**spec.headers, **self.headers})
            except (TypeError, ValueError) as exc:
                raise BulkFetchConfigError(str(exc)) from None
        return spec

    def _log_plan(
        self, urls: Any, plan: UrlPlan | RequestPlan, store: Any, spec: FetchSpec, settings: BulkFetchSettings
    ) -> None:
        """The start line, from the spec the engine runs with (the same rate and concurrency it uses)."""
        rate = spec.describe_rate_limit()
        if spec.shared:
            rate += f" on redis connection {settings.redis_conn_id!r}"
        self.log.info(
            "Bulk fetch: %d %s (%d chunk(s)) into %r; rate limit %s, concurrency %d%s",
            len(urls),
            "requests" if spec.paginator is None else "paginated streams",
            len(plan.chunks),
            store,
            rate,
            spec.concurrency_for(len(urls)),
            f"; pacing: {spec.describe_pacing()}" if spec.rate_limit is not None else "",
        )

    def _run(
        self,
        hook: BulkFetchHook,
        urls: Any,
        store: Any,
        spec: FetchSpec,
        progress: Progress | None,
        total: int,
    ) -> FetchReport:
        """The engine run; a long pause defers the task (after the flush and checkpoint), a kill fails it
        saying what is stored."""
        try:
            return hook.fetch(urls, store, spec=spec)
        except LongWait as stop:
            self._defer_for(stop, progress)  # raises TaskDeferred
            raise
        except asyncio.CancelledError:
            stored = (
                f"; {progress.units_skipped + progress.units_fetched} of {total} units are stored and "
                f"recorded in the {progress.backend.name}: the next try fetches only the rest"
                if progress is not None
                else ""
            )
            raise AirflowException(f"bulk fetch was cancelled (task killed){stored}") from None

    def _finish(
        self,
        context: Any,
        report: FetchReport,
        store: Any,
        progress: Progress | None,
        interval: Interval | None,
        plan: UrlPlan | RequestPlan,
        metrics: StatsObserver,
    ) -> dict[str, Any]:
        """Write the outputs (manifest or XCom records), announce them, close the checkpoint, and fail the
        task when more requests failed than ``max_failures`` allows (after writing what succeeded);
        ``metrics`` learns of the XCom store's records once they are pushed."""
        resume = progress.summary() if progress is not None else {}
        output = (
            store.finalize(report, resume)
            if isinstance(store, ObjectStorageStore)
            else store.finalize(report)
        )
        if isinstance(store, XComStore):
            context["ti"].xcom_push(key=XCOM_RECORDS_KEY, value=store.saved_data())
            metrics.on_records(len(store.saved_data()), store.stored_bytes)  # stored now
        summary = {**self._summary(report, interval, len(plan.chunks), output), **pagination_summary(report)}
        if isinstance(plan, RequestPlan):  # ids and requests, as counted by the engine
            summary["method"] = plan.method
            if plan.ids is not None:
                summary["ids_per_request"] = plan.ids_per_request
                summary["ids"] = {"total": plan.ids_total, **report.ids_dict()}
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
