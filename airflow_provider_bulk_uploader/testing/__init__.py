"""Test helpers shipped with the provider: a deterministic loopback demo API (the ``demo_api`` package)."""

from airflow_provider_bulk_uploader.testing.demo_api import (
    DemoAPI,
    RequestRecord,
    Stats,
    max_in_window,
    running_demo_api,
)

__all__ = ["DemoAPI", "RequestRecord", "Stats", "max_in_window", "running_demo_api"]
