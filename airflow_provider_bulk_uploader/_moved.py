"""Module paths of the 0.1 layout that moved into :mod:`airflow_provider_bulk_uploader.engine`.

``airflow_provider_bulk_uploader.<old>`` still works, both as an import (``import …uploader``,
``from …uploader import UploadedData``) and as an attribute of the package
(``airflow_provider_bulk_uploader.uploader``), but the first use in a process emits a
:class:`DeprecationWarning` naming the new path, and the path will go in a later release. The old name then
refers to the engine module itself (the same module object), so later uses are silent, as for any cached
import. The spec's own paths (``.interfaces``, ``.iterators``) are real, public modules of the package and
are not listed here.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import warnings
from collections.abc import Sequence
from types import ModuleType

PACKAGE = __name__.rpartition(".")[0]

#: old module under the package root -> its module under ``engine``
MOVED = {
    "api_calls": "api_calls",
    "auth": "auth",
    "errors": "errors",
    "ratelimit": "ratelimit",
    "redaction": "redaction",
    "report": "report",
    "retries": "retries",
    "stores": "stores",
    "uploader": "orchestrator",
}


def new_path(old: str) -> str:
    """The engine module that replaced ``PACKAGE.<old>``, e.g. ``uploader`` -> ``….engine.orchestrator``."""
    return f"{PACKAGE}.engine.{MOVED[old]}"


def load(old: str) -> ModuleType:
    """Warn, then register the engine module under the old name (and as the package's attribute).

    Called two frames below the user's code, by :meth:`_MovedFinder.exec_module` (the import system's own
    frames in between are skipped by :func:`warnings.warn`) or by :func:`package_getattr`: ``stacklevel=3``
    points the warning at the line that used the old path.
    """
    new = new_path(old)
    warnings.warn(
        f"{PACKAGE}.{old} is deprecated and will be removed: import {new} instead",
        DeprecationWarning,
        stacklevel=3,
    )
    module = importlib.import_module(new)
    sys.modules[f"{PACKAGE}.{old}"] = module
    setattr(sys.modules[PACKAGE], old, module)
    return module


def package_getattr(name: str) -> ModuleType:
    """The package's module ``__getattr__`` (PEP 562): ``airflow_provider_bulk_uploader.<old>`` without an
    import of it first."""
    if name in MOVED:
        return load(name)
    raise AttributeError(f"module {PACKAGE!r} has no attribute {name!r}")


class _MovedFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """``import airflow_provider_bulk_uploader.<old>``: the package has no such file, so the import system
    asks this finder (last on ``sys.meta_path``), which answers for the old names only."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        parent, _, old = fullname.rpartition(".")
        if parent != PACKAGE or old not in MOVED:
            return None
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None  # a placeholder module; exec_module replaces it in sys.modules

    def exec_module(self, module: ModuleType) -> None:
        # the import system hands out whatever sys.modules holds under the name once this returns
        load(module.__name__.rpartition(".")[2])


def install() -> None:
    """Put the finder on ``sys.meta_path`` once (the package's ``__init__`` calls it)."""
    if not any(isinstance(finder, _MovedFinder) for finder in sys.meta_path):
        sys.meta_path.append(_MovedFinder())
