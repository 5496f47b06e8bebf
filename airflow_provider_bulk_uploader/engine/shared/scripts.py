"""The Lua scripts of the shared limiter, kept as package data (``lua/<name>.lua``) and read once.

Each step on the budget is one script, so it is atomic on the server and timed by Redis ``TIME`` (worker
clocks may differ). What each expects (``KEYS``/``ARGV``) and returns is written at the top of its file.
``budget.lua`` is not a script of its own: the helpers it defines (the clock, and whether a budget found
missing may have been in use) are prepended to the scripts that read a budget's state.
"""

from __future__ import annotations

import functools
from importlib.resources import files

__all__ = ["NAMES", "source"]

#: every script the limiter may register: ``acquire``/``release`` (strict), ``bucket``, ``pause`` (both)
NAMES = ("acquire", "release", "bucket", "pause")
#: the scripts that start with ``budget.lua``'s helpers
_WITH_HELPERS = ("acquire", "bucket")


@functools.cache
def source(name: str) -> str:
    """The text of script ``name`` (one of :data:`NAMES`), read from the package on first use."""
    if name not in NAMES:
        raise ValueError(f"no shared-limiter script named {name!r}; known: {', '.join(NAMES)}")
    text = _read(name)
    return _read("budget") + "\n" + text if name in _WITH_HELPERS else text


def _read(name: str) -> str:
    package = files(__name__.rpartition(".")[0])
    return package.joinpath("lua").joinpath(f"{name}.lua").read_text(encoding="utf-8")
