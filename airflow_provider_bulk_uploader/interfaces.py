"""The original Bulk Uploader spec's ``bulk_uploader.interfaces`` (import root renamed).

A public path for good (no warning): it re-exports the public names of
:mod:`airflow_provider_bulk_uploader.engine.interfaces`, where the protocols live, so both paths give the
same objects.
"""

from .engine import interfaces as _interfaces
from .engine.interfaces import *  # noqa: F403 - exactly the engine module's __all__

__all__ = list(_interfaces.__all__)
