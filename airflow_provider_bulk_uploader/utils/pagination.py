"""The operator's ``pagination`` argument: checked at construction, resolved after templating, summarised.

Accepted forms (the engine's one parser, ``engine.pagination.paginator_from``): ``None`` (one request per
URL), a paginator object, a type name such as ``"auto"``, or a plain dict
``{"type": "cursor", "cursor_path": "meta.next_cursor", "cursor_param": "cursor"}``. The operator keeps a
plain dict or string (a paginator object is turned into its dict form), so the field survives DAG
serialization and can be templated.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airflow_provider_bulk_uploader.engine import defaults
from airflow_provider_bulk_uploader.engine.pagination import (
    PAGINATOR_PARAMETERS,
    PAGINATOR_TYPES,
    Paginator,
    paginator_from,
)
from airflow_provider_bulk_uploader.exceptions import BulkFetchConfigError

__all__ = ["check_pagination", "pagination_summary", "resolve_pagination"]


def _templated(value: Any) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value)


def check_pagination(value: Any, record_path: str | None) -> dict[str, Any] | str | None:
    """Validate the operator's ``pagination`` at construction; return the form to keep (plain data).

    Values that are still Jinja templates are checked after rendering (:func:`resolve_pagination`).
    :raises BulkFetchConfigError: naming the key and the value.
    """
    if value is None:
        return None
    if isinstance(value, Paginator):
        value = value.to_dict()
    if _templated(value):
        return value
    if isinstance(value, Mapping) and any(_templated(v) for v in value.values()):
        kind = value.get("type")
        if _templated(kind):  # the type itself is templated: everything is checked once rendered
            return dict(value)
        if kind not in PAGINATOR_TYPES:
            raise BulkFetchConfigError(
                f"pagination['type'] must be one of {list(PAGINATOR_TYPES)}, got {kind!r}"
            )
        allowed = PAGINATOR_PARAMETERS[kind]
        for key, item in value.items():
            if key != "type" and key not in allowed:
                raise BulkFetchConfigError(
                    f"pagination: unknown key {key!r} (value {item!r}) for type {kind!r}; "
                    f"allowed: {list(allowed)}"
                )
        return dict(value)
    if isinstance(value, Mapping):
        _parse(value, record_path)
        return dict(value)
    _parse(value, record_path)
    return value


def resolve_pagination(value: Any, record_path: str | None) -> Paginator | None:
    """The engine paginator for the (rendered) ``pagination`` value."""
    return _parse(value, record_path)


def _parse(value: Any, record_path: str | None) -> Paginator | None:
    try:
        paginator = paginator_from(value, argument="pagination")
    except ValueError as exc:
        raise BulkFetchConfigError(str(exc)) from None
    if paginator is not None and paginator.counts_records and record_path is None:
        raise BulkFetchConfigError(
            f"pagination type {paginator.type!r} counts records to see an empty or short page: set "
            "record_path ('.' when each page is a JSON list of records, 'data' when they are under a key …)"
        )
    return paginator


def pagination_summary(report: Any, limit: int = defaults.SUMMARY_STREAMS) -> dict[str, Any]:
    """Pages and records in total and for the first ``limit`` streams (``{}`` for an unpaginated run)."""
    if not getattr(report, "paginated", False):
        return {}
    return {"pagination": report.pagination_dict(max_streams=limit)}
