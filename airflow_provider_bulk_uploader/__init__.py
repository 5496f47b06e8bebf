"""airflow-provider-bulk-uploader: fetch many API records politely and land them in storage.

The names exported here are the async engine (:mod:`.engine`), which imports nothing from Airflow. The
Airflow layer lives in :mod:`.hooks`, :mod:`.operators`, :mod:`.storage` and :mod:`.utils`.

Public module paths besides the root: the original spec's :mod:`.interfaces` and :mod:`.iterators` (for good)
and every module under :mod:`.engine`. The 0.1 paths ``api_calls``, ``auth``, ``errors``, ``ratelimit``,
``redaction``, ``report``, ``retries``, ``stores`` and ``uploader`` still work with a DeprecationWarning
naming their ``engine`` module (:mod:`._moved`).
"""

from . import _moved
from . import engine as _engine
from . import interfaces as interfaces  # the original spec's paths, public for good
from . import iterators as iterators
from .engine import *  # noqa: F403 - the original spec's API is exactly the engine's public names

__version__ = "0.1.0"
__all__ = list(_engine.__all__)

_moved.install()
__getattr__ = _moved.package_getattr
