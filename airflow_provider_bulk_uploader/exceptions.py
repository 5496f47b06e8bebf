"""Exceptions of the Airflow layer (the engine's own live in :mod:`.engine.errors`).

Configuration errors subclass ``AirflowFailException``: a bad connection field or operator argument fails
the task at once, without Airflow retries, which could not help.
"""

from __future__ import annotations

from airflow.sdk.exceptions import AirflowException, AirflowFailException

__all__ = ["BulkFetchConfigError", "BulkFetchFailuresError", "XComTooLargeError"]


class BulkFetchConfigError(AirflowFailException, ValueError):
    """A connection field or operator argument is invalid. Fails the task without retries."""


class BulkFetchFailuresError(AirflowException):
    """More requests failed than ``max_failures`` allows (raised after what succeeded was written)."""


class XComTooLargeError(AirflowFailException):
    """The records would exceed ``xcom_max_bytes``. Retrying would not help, so the task fails at once."""
