"""airflow-provider-bulk-uploader: fetch many API records politely and land them in storage.

The names exported here are the async engine (:mod:`.engine`), which imports nothing from Airflow. The
Airflow layer lives in :mod:`.hooks`, :mod:`.operators`, :mod:`.storage` and :mod:`.utils`.
"""

import importlib as _importlib
import sys as _sys

from . import engine as _engine
from .engine import *  # noqa: F403 - the original spec's API is exactly the engine's public names

__version__ = "0.1.0"
__all__ = list(_engine.__all__)

# The original spec imports ``bulk_uploader.interfaces`` and ``bulk_uploader.iterators``, and 0.1 users
# imported the other engine modules from the package root: keep those paths working without a file each.
_LEGACY_MODULES = {
    "api_calls": "api_calls",
    "auth": "auth",
    "errors": "errors",
    "interfaces": "interfaces",
    "iterators": "iterators",
    "ratelimit": "ratelimit",
    "redaction": "redaction",
    "report": "report",
    "retries": "retries",
    "stores": "stores",
    "uploader": "orchestrator",
}
for _old, _new in _LEGACY_MODULES.items():
    _sys.modules.setdefault(f"{__name__}.{_old}", _importlib.import_module(f".engine.{_new}", __name__))
del _old, _new
