"""Argument checks shared by the engine and the Airflow layer: one wording for every "bad argument" error,
naming the argument and the value it got."""

from __future__ import annotations

__all__ = ["require_int"]


def require_int(
    name: str, value: object, minimum: int | None = None, *, error: type[Exception] | None = None
) -> int:
    """Return ``value`` if it is an ``int`` (a ``bool`` is not) of at least ``minimum``.

    Otherwise raise ``error`` when given, else ``TypeError`` for a non-int and ``ValueError`` for one below
    ``minimum``; the message is ``"<name> must be an int >= <minimum>, got <value!r>"``.
    """
    bound = "" if minimum is None else f" >= {minimum}"
    if isinstance(value, bool) or not isinstance(value, int):
        raise (error or TypeError)(f"{name} must be an int{bound}, got {value!r}")
    if minimum is not None and value < minimum:
        raise (error or ValueError)(f"{name} must be an int{bound}, got {value!r}")
    return value
