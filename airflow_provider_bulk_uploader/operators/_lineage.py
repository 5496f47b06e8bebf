"""Data-aware outputs of ``BulkFetchOperator``: Airflow asset events and OpenLineage facets.

What a successful fetch into object storage announces (nothing is announced for a failed task, nor for one
that wrote no records, nor for the XCom store):

* every ``AssetAlias`` in the task's ``outlets`` gets the partition's asset,
  ``Asset("<store>/<partition>")`` (no connection id in the URI), with the event ``extra``
  ``{"records", "parts", "interval", "manifest", "failed"}``;
* every fixed ``Asset`` in ``outlets`` keeps Airflow's standard behaviour (an event on every successful run)
  and gets the same ``extra`` when records were written.

OpenLineage (``get_openlineage_facets_on_start`` / ``_on_complete`` / ``_on_failure``, used by
``apache-airflow-providers-openlineage`` when it is installed; imported lazily, so the provider works without
it): the input dataset is the API (namespace ``scheme://host[:port]`` of the connection's base URL, name the
path of the endpoint template: never userinfo nor a query string, so never a token), the output dataset is the
partition written (one per partition, not one per part file), and the run facet ``bulkFetch`` holds the
request counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow.sdk import Asset, AssetAlias

from airflow_provider_bulk_uploader.hooks.bulk_fetch import BulkFetchHook
from airflow_provider_bulk_uploader.utils.urls import placeholders_in

if TYPE_CHECKING:
    from airflow.providers.openlineage.extractors import OperatorLineage

__all__ = ["DataAwareOutputsMixin", "asset_extra", "partition_asset_uri"]

_LOCAL_SCHEMES = ("", "file", "local")


def partition_asset_uri(directory: str) -> str:
    """The asset URI of a partition directory URL: scheme + bucket/host + path, without the connection id.

    ``s3://aws_default@bucket/data/2024`` -> ``s3://bucket/data/2024``; ``/data/2024`` and
    ``file:///data/2024`` -> ``file:///data/2024``.
    """
    parts = urlsplit(directory)
    if parts.scheme in _LOCAL_SCHEMES:
        return "file://" + parts.path
    host = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{host}{parts.path}"


def asset_extra(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The asset event ``extra`` for a run's summary: records, parts, interval, manifest path, failures."""
    return {
        "records": summary.get("records", 0),
        "parts": len(summary.get("paths") or ()),
        "interval": summary.get("interval"),
        "manifest": summary.get("manifest"),
        "failed": summary.get("failed", 0),
    }


def _wrote_something(summary: Mapping[str, Any] | None) -> bool:
    return bool(summary and summary.get("store") == "object_storage" and summary.get("records"))


class DataAwareOutputsMixin:
    """Asset events and OpenLineage facets for ``BulkFetchOperator`` (see the module docstring).

    The operator calls :meth:`_announce_outputs` once, after the store wrote its output; everything else
    reads the summary kept there.
    """

    # set by the operator
    endpoint: Any
    bulk_fetch_conn_id: str
    query_params: Any
    ids: Any
    max_failures: int
    outlets: list[Any]
    _hook: BulkFetchHook | None
    log: Any

    _output_summary: dict[str, Any] | None = None

    # -- assets --------------------------------------------------------------------------------------

    def _announce_outputs(self, context: Mapping[str, Any], summary: dict[str, Any]) -> None:
        """Keep ``summary`` for lineage; add the partition's asset to every ``AssetAlias`` outlet.

        Nothing is announced when more requests failed than ``max_failures`` (the task is about to fail),
        when no records were written, or for the XCom store.
        """
        self._output_summary = summary
        outlets = list(getattr(self, "outlets", None) or ())
        if not outlets:
            return
        aliases = [o for o in outlets if isinstance(o, AssetAlias)]
        if summary.get("failed", 0) > self.max_failures:
            return
        if not _wrote_something(summary):
            if aliases:
                reason = (
                    "the XCom store" if summary.get("store") != "object_storage" else "no records written"
                )
                self.log.info("No asset announced to %s: %s", [a.name for a in aliases], reason)
            return
        events = context.get("outlet_events")
        if events is None:  # op.execute() called outside a task run
            if aliases:
                self.log.warning("No outlet_events in the context: asset aliases get no event")
            return
        extra = asset_extra(summary)
        uri = partition_asset_uri(str(summary["directory"]))
        for outlet in outlets:
            if isinstance(outlet, AssetAlias):
                events[outlet].add(Asset(uri), extra=extra)
                self.log.info("Asset %s announced to alias %r: %s", uri, outlet.name, extra)
            elif isinstance(outlet, Asset):
                events[outlet].extra.update(extra)

    # -- OpenLineage ---------------------------------------------------------------------------------

    def _api_template(self) -> str:
        """The request URL template without its query string: base URL (or absolute endpoint) + path."""
        endpoint = self.endpoint if isinstance(self.endpoint, str) else ""
        if "://" in endpoint:
            return endpoint.partition("?")[0]
        hook = self._hook or BulkFetchHook(bulk_fetch_conn_id=self.bulk_fetch_conn_id)
        self._hook = hook
        base = hook.get_settings().base_url.partition("?")[0].rstrip("/")
        path = endpoint.partition("?")[0]
        url = f"{base}/{path.lstrip('/')}" if path else base
        if self.ids is not None:
            try:
                used = placeholders_in(endpoint, self.query_params)
            except Exception:
                used = set()
            if "id" not in used:  # the operator appends /{id} (see UrlPlan)
                url = f"{url.rstrip('/')}/{{id}}"
        return url

    def _input_dataset(self) -> Any:
        from airflow.providers.common.compat.openlineage.facet import InputDataset

        parts = urlsplit(self._api_template())
        host = parts.hostname or ""
        try:
            port = parts.port
        except ValueError:
            port = None
        namespace = f"{parts.scheme}://{host}" + (f":{port}" if port else "")
        return InputDataset(namespace=namespace, name=parts.path or "/")

    def _output_dataset(self, summary: Mapping[str, Any]) -> Any:
        from airflow.providers.common.compat.openlineage.facet import (
            OutputDataset,
            OutputStatisticsOutputDatasetFacet,
        )

        parts = urlsplit(partition_asset_uri(str(summary["directory"])))
        if parts.scheme == "file":  # the naming the common.io file asset converter uses
            namespace, name = "file", parts.path
        else:
            namespace, name = f"{parts.scheme}://{parts.netloc}", parts.path.lstrip("/")
        stats = OutputStatisticsOutputDatasetFacet(
            rowCount=summary.get("records"), fileCount=len(summary.get("paths") or ())
        )
        return OutputDataset(namespace=namespace, name=name, outputFacets={"outputStatistics": stats})

    def _lineage(self, summary: Mapping[str, Any] | None) -> OperatorLineage:
        from airflow.providers.openlineage.extractors import OperatorLineage

        from airflow_provider_bulk_uploader.operators._lineage_facets import BulkFetchRunFacet

        outputs = [self._output_dataset(summary)] if summary and _wrote_something(summary) else []
        run_facets: dict[str, Any] = {}
        if summary is not None:
            run_facets["bulkFetch"] = BulkFetchRunFacet.from_summary(summary)
        return OperatorLineage(inputs=[self._input_dataset()], outputs=outputs, run_facets=run_facets)

    def get_openlineage_facets_on_start(self) -> OperatorLineage:
        """The API as input (the partition is only known once the run's interval is resolved)."""
        return self._lineage(None)

    def get_openlineage_facets_on_complete(self, task_instance: Any) -> OperatorLineage:
        """The API as input, the partition written as output, request counts as the ``bulkFetch`` facet."""
        return self._lineage(self._output_summary)

    def get_openlineage_facets_on_failure(self, task_instance: Any) -> OperatorLineage:
        """As on complete; the output is reported when the store wrote records before the task failed."""
        return self._lineage(self._output_summary)
