"""Dotted paths into parsed JSON bodies (``"data.items"``, ``"meta.next_cursor"``): the one parser the
paginators, the engine's record counting and the Airflow stores share."""

from __future__ import annotations

from typing import Any

__all__ = ["MISSING", "RecordPathError", "lookup", "records_at", "with_value_at"]


class RecordPathError(ValueError):
    """A response body does not match ``record_path`` (names the path and the keys found, never values)."""


#: What :func:`lookup` returns when the path is not in the body.
MISSING: Any = object()


def lookup(body: Any, path: str) -> Any:
    """The value at dotted ``path`` in ``body`` (``"."`` or ``""`` = the body itself), or :data:`MISSING`.

    Each step indexes a JSON object by key; a digit step also indexes a JSON list (``"links.0.href"``), and
    a negative one counts from its end (``"data.-1.id"``: the last record's id).
    """
    value = body
    if path in ("", "."):
        return value
    for part in path.split("."):
        if isinstance(value, dict):
            if part not in value:
                return MISSING
            value = value[part]
        elif isinstance(value, list) and _is_index(part) and -len(value) <= int(part) < len(value):
            value = value[int(part)]
        else:
            return MISSING
    return value


def _is_index(part: str) -> bool:
    return part.isdigit() or (part[:1] == "-" and part[1:].isdigit())


def records_at(body: Any, record_path: str | None) -> list[Any]:
    """The records in one response ``body``.

    :param record_path: ``None`` = the body is one record; ``"."`` = the body is a JSON list of records;
        ``"data.items"`` = the list at that dotted path inside the body. With a path, an empty body (a 204)
        holds no records.
    :raises RecordPathError: when the path is missing or does not lead to a list (names the path and the
        keys found, never values).
    """
    if record_path is None:
        return [body]
    if body is None:
        return []
    value = body
    if record_path not in ("", "."):
        for part in record_path.split("."):
            if not isinstance(value, dict) or part not in value:
                keys = sorted(value)[:20] if isinstance(value, dict) else type(value).__name__
                raise RecordPathError(
                    f"record_path {record_path!r}: no key {part!r} in a response (found {keys})"
                )
            value = value[part]
    if not isinstance(value, list):
        raise RecordPathError(
            f"record_path {record_path!r} must lead to a JSON list, got {type(value).__name__}"
        )
    return value


def with_value_at(body: Any, path: str, value: Any) -> Any:
    """A copy of JSON object ``body`` with ``value`` at dotted ``path`` (``"variables.after"``), creating the
    objects on the way; ``body`` itself is not changed (a request template is shared by many requests).

    :raises ValueError: when a step of the path is not a JSON object in ``body``.
    """
    parts = path.split(".")
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise ValueError(f"body path {path!r}: the body is a JSON {type(body).__name__}, not an object")
    out = dict(body)
    node = out
    for i, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = {}
        elif not isinstance(child, dict):
            raise ValueError(f"body path {path!r}: {'.'.join(parts[: i + 1])!r} is not a JSON object")
        node[part] = child = dict(child)
        node = child
    node[parts[-1]] = value
    return out
