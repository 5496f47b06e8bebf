"""What a page holds, read the same way by ``auto``'s shapes and by the completeness check: a value at a
path with one ``*`` (any key), a source that may be a header, and the records' list when no
``record_path`` was given."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .. import defaults
from ..paths import MISSING, lookup
from ._steps import HEADER_PREFIX, Page, _header

#: The wildcard step of a path: any one key of a JSON object (``"data.*.pageInfo"``).
ANY = "*"


def expand(body: Any, path: str) -> Iterator[tuple[str, Any]]:
    """Every ``(concrete path, value)`` for ``path`` in ``body``, a ``*`` step taking each key of an object in
    turn (at most one value without a ``*``; nothing when the path is missing)."""
    if path in ("", "."):
        yield path, body
        return

    def walk(value: Any, parts: list[str], done: list[str]) -> Iterator[tuple[str, Any]]:
        if not parts:
            yield ".".join(done), value
            return
        part, rest = parts[0], parts[1:]
        if part != ANY:
            inner = lookup(value, part)
            if inner is not MISSING:
                yield from walk(inner, rest, [*done, part])
        elif isinstance(value, dict):
            for key, inner in value.items():
                if isinstance(key, str) and key and "." not in key:
                    yield from walk(inner, rest, [*done, key])

    yield from walk(body, path.split("."), [])


def value_at(page: Page, source: str) -> Any:
    """The value at ``source`` in ``page``: a body path (the first match of a ``*``), or ``"header:<name>"``
    (:data:`~..paths.MISSING` when absent)."""
    if source.lower().startswith(HEADER_PREFIX):
        value = _header(page, source[len(HEADER_PREFIX) :].strip())
        return MISSING if value is None else value
    return next((v for _, v in expand(page.body, source)), MISSING)


def find_records(body: Any) -> str | None:
    """Where a page's records are when no ``record_path`` was given: ``"."`` for a JSON list, the first of
    :data:`~..defaults.AUTO_RECORD_PATHS` that holds a list (one level into ``data`` too, as GraphQL nests
    them), else the body's only list; ``None`` when there is none."""
    if isinstance(body, list):
        return "."
    if not isinstance(body, dict):
        return None
    for key in defaults.AUTO_RECORD_PATHS:
        if isinstance(body.get(key), list):
            return key
    lists = [k for k, v in body.items() if isinstance(v, list) and isinstance(k, str) and "." not in k]
    if len(lists) == 1:
        return lists[0]
    data = body.get("data")
    if isinstance(data, dict):
        for field, inner in data.items():
            if isinstance(inner, dict) and isinstance(field, str) and "." not in field:
                found = find_records(inner)
                if found not in (None, "."):
                    return f"data.{field}.{found}"
    return None


def count_at(body: Any, path: str | None) -> int | None:
    """Records in ``body`` at ``path`` (``"."``: the body), or ``None`` when there is no list there."""
    if path is None:
        return None
    value = body if path == "." else lookup(body, path)
    return len(value) if isinstance(value, list) else None
