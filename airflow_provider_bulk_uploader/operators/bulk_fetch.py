"""``BulkFetchOperator``: fetch many API URLs (date chunks x ids) into XCom or object storage."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from typing import Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException

from airflow_provider_bulk_uploader import FetchReport
from airflow_provider_bulk_uploader.engine import defaults
from airflow_provider_bulk_uploader.engine.validation import require_int
from airflow_provider_bulk_uploader.exceptions import BulkFetchConfigError, BulkFetchFailuresError
from airflow_provider_bulk_uploader.hooks.bulk_fetch import DEFAULT_CONN_ID, BulkFetchHook
from airflow_provider_bulk_uploader.operators._lineage import DataAwareOutputsMixin
from airflow_provider_bulk_uploader.storage import XCOM_RECORDS_KEY, RunMeta, XComStore, make_store
from airflow_provider_bulk_uploader.storage.base import check_record_path, failure_dicts
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
        pagination: Any = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
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
        self.log.info(
            "Bulk fetch: %d requests (%d chunk(s)) into %r; rate limit %s, concurrency %d",
            len(plan),
            len(plan.chunks),
            store,
            settings.describe_rate_limit(),
            settings.effective_concurrency(len(plan)),
        )
        try:
            report = hook.fetch(
                plan,
                store,
                settings=settings,
                retry_max_attempts=self.retry_max_attempts,
                http_backend=self.http_backend,
                **self._pagination_kwargs(),
            )
        except asyncio.CancelledError:
            raise AirflowException("bulk fetch was cancelled (task killed)") from None
        output = store.finalize(report)
        if isinstance(store, XComStore):
            context["ti"].xcom_push(key=XCOM_RECORDS_KEY, value=store.saved_data())
        summary = {**self._summary(report, interval, len(plan.chunks), output), **pagination_summary(report)}
        self._announce_outputs(context, summary)  # asset events (only if the task succeeds) + lineage
        self.log.info("Bulk fetch done: %s; output: %s", report, output)
        if report.failed > self.max_failures:
            where = output.get("failures_path") or "the task log"
            raise BulkFetchFailuresError(
                f"{report.failed} of {report.requested} requests failed, more than max_failures="
                f"{self.max_failures}; the {report.succeeded} successful responses were written "
                f"(failure report: {where}). First failures: {summary['failures'][:3]}"
            )
        return summary

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
            "interval": interval.to_dict() if interval else None,
            "chunks": chunks,
            **output,
            "failures": failure_dicts(report, SUMMARY_FAILURES),
        }

    def on_kill(self) -> None:
        """Cancel the in-flight fetch; the engine flushes what succeeded and closes its connections."""
        if self._hook is not None:
            self._hook.cancel()
