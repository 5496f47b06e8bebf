"""The original Bulk Uploader spec's ``bulk_uploader.iterators`` (import root renamed).

A public path for good (no warning): it re-exports the public names of
:mod:`airflow_provider_bulk_uploader.engine.iterators`, where the URL and interval generators live, so both
paths give the same objects.
"""

from .engine import iterators as _iterators
from .engine.iterators import *  # noqa: F403 - exactly the engine module's __all__

__all__ = list(_iterators.__all__)
