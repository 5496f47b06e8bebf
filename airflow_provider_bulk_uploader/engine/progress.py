"""Periodic INFO progress lines for long runs (logger ``airflow_provider_bulk_uploader``)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from .report import FetchReport

__all__ = ["format_progress", "log_progress_every"]

logger = logging.getLogger("airflow_provider_bulk_uploader")


def format_progress(report: FetchReport, total: int | None, elapsed: float) -> str:
    """``done/total (pct), req/s, failures, ETA`` — total and ETA only when the URL iterable is sized."""
    done = report.succeeded + report.failed
    rate = done / elapsed if elapsed > 0 else 0.0
    parts = [f"progress: {done}" + (f"/{total} ({100.0 * done / total:.1f}%)" if total else "") + " done"]
    parts.append(f"{rate:.1f} URLs/s")
    parts.append(f"{report.attempts} requests")
    parts.append(f"{report.failed} failed")
    if total and rate > 0:
        parts.append(f"ETA {max(total - done, 0) / rate:.0f} s")
    return ", ".join(parts)


async def log_progress_every(
    interval: float, report: FetchReport, total: int | None, clock: Callable[[], float] = time.monotonic
) -> None:
    """Log a progress line every ``interval`` seconds until cancelled."""
    started = clock()
    while True:
        await asyncio.sleep(interval)
        logger.info(format_progress(report, total, clock() - started))
