"""The one parser of the dict form (``{"type": "cursor", ...}``), shared by the engine and the operator."""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from typing import Any

from ._auto import AutoPaginator
from ._steps import _as_int
from ._styles import STYLES, Paginator

_ALL: tuple[type[Paginator], ...] = (*STYLES, AutoPaginator)
_CLASSES: dict[str, type[Paginator]] = {cls.type: cls for cls in _ALL}
#: The names the dict form's ``"type"`` accepts.
PAGINATOR_TYPES: tuple[str, ...] = tuple(_CLASSES)

#: The parameters each type's dict form accepts besides ``"type"`` (its class's constructor parameters).
PAGINATOR_PARAMETERS: dict[str, tuple[str, ...]] = {
    name: tuple(cls.parameters()) for name, cls in _CLASSES.items()
}
#: Whole-number parameters: a rendered template gives them as strings.
_INT_PARAMETERS = frozenset(
    {"limit", "offset", "maximum_offset", "base_page", "page", "maximum_page", "max_pages"}
)


#: True/false parameters: a rendered template gives them as strings.
_BOOL_PARAMETERS = frozenset({"stop_after_empty_page", "prefer_next_link"})


def paginator_from(spec: Any, *, argument: str = "paginator") -> Paginator | None:
    """A :class:`Paginator` from ``spec``: ``None``, a paginator object, a type name (``"auto"``,
    ``"header_link"`` …: the defaults of that type) or a dict ``{"type": ..., <parameters>}``. Whole-number
    parameters may be given as strings (what a rendered template gives).

    :raises ValueError: naming the key and the value that are wrong (``argument`` prefixes the message).
    """
    if spec is None or isinstance(spec, Paginator):
        return spec
    if isinstance(spec, str):
        spec = {"type": spec}
    if not isinstance(spec, Mapping):
        raise ValueError(
            f"{argument} must be a paginator, one of {list(PAGINATOR_TYPES)} or a dict with a 'type', "
            f"got {type(spec).__name__}"
        )
    kind = spec.get("type")
    if isinstance(kind, str):
        kind = kind.strip().lower()
    if kind not in _CLASSES:
        raise ValueError(f"{argument}['type'] must be one of {list(PAGINATOR_TYPES)}, got {kind!r}")
    allowed = PAGINATOR_PARAMETERS[kind]
    kwargs: dict[str, Any] = {}
    for key, value in spec.items():
        if key == "type":
            continue
        if key not in allowed:
            raise ValueError(
                f"{argument}: unknown key {key!r} (value {value!r}) for type {kind!r}; "
                f"allowed: {list(allowed)}"
            )
        if key in _INT_PARAMETERS and isinstance(value, str) and _as_int(value) is not None:
            value = _as_int(value)
        if key in _BOOL_PARAMETERS and isinstance(value, str):
            value = {"true": True, "false": False}.get(value.strip().lower(), value)
        kwargs[key] = value
    cls = _CLASSES[kind]
    for name, default in cls.parameters().items():
        if default is inspect.Parameter.empty and name not in kwargs:
            raise ValueError(f"{argument}: type {kind!r} needs {name!r}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{argument} ({kind}): {exc}") from None
