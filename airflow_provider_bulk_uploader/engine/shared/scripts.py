"""The Lua scripts of the shared limiter, kept as package data (``lua/<name>.lua``) and read once.

Each step on the budget is one script, so it is atomic on the server and timed by Redis ``TIME`` (worker
clocks may differ). What each expects (``KEYS``/``ARGV``) and returns is written at the top of its file.
Three files are not scripts of their own but helpers prepended to the scripts that use them:
``budget.lua`` (the clock, and whether a budget found missing may have been in use), ``pace.lua`` (the
shared pace: GCRA and the AIMD arithmetic of :mod:`..adaptive`) and ``rejections.lua`` (the rejection
counter of the budget page).
"""

from __future__ import annotations

import functools
from importlib.resources import files
from typing import Any

__all__ = ["NAMES", "US", "reply_text", "source"]

#: microseconds per second: the scripts' unit of time (Redis ``TIME``, their arguments and replies)
US = 1_000_000

#: every script the limiter may register: ``acquire``/``release`` (strict), ``bucket``, ``pause`` and
#: ``adapt`` (both)
NAMES = ("acquire", "release", "bucket", "pause", "adapt")
#: the helpers each script starts with, in order
_HELPERS: dict[str, tuple[str, ...]] = {
    "acquire": ("budget", "pace"),
    "bucket": ("budget", "pace"),
    "adapt": ("budget", "pace", "rejections"),
    "pause": ("rejections",),
}


@functools.cache
def source(name: str) -> str:
    """The text of script ``name`` (one of :data:`NAMES`), read from the package on first use."""
    if name not in NAMES:
        raise ValueError(f"no shared-limiter script named {name!r}; known: {', '.join(NAMES)}")
    return "\n".join([*(_read(helper) for helper in _HELPERS.get(name, ())), _read(name)])


def _read(name: str) -> str:
    package = files(__name__.rpartition(".")[0])
    return package.joinpath("lua").joinpath(f"{name}.lua").read_text(encoding="utf-8")


def reply_text(value: Any) -> str:
    """One value of a script reply or a Redis read as text (redis-py gives bytes without
    ``decode_responses``)."""
    return value.decode() if isinstance(value, bytes) else str(value)
