"""A retry policy for tests: the engine's default (same predicate, same ``Retry-After`` handling) with
millisecond backoff, so a test that exercises retries waits milliseconds, not seconds."""

from __future__ import annotations

from tenacity import AsyncRetrying

from airflow_provider_bulk_uploader import default_retry_policy


def fast_policy(max_attempts: int = 3) -> AsyncRetrying:
    """The default retry policy (same predicate, Retry-After handling) with millisecond backoff."""
    return default_retry_policy(max_attempts, initial_wait=0.01, max_wait=0.05, jitter=0.0)
