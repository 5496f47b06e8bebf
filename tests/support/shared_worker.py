"""One OS process of a shared-rate-limit test: ``python -m tests.support.shared_worker SPEC_JSON``.

SPEC: ``redis`` (URL), ``key``, ``n``, ``period``, ``mode``, ``burst`` (default: the default burst),
``adaptive`` (default true), ``urls`` (list), ``start_at`` (``time.time()`` to start at, so that all
processes begin together), ``timeout``, ``lease_margin``, ``retry_seconds``, ``concurrency``, ``headers``
(sent with every request), ``attempts`` (of the retry policy), ``default_policy`` (true: the engine's
default retry policy, as a new user has it), ``seconds`` (stop taking URLs after this long), ``warm`` (a URL
fetched once before ``start_at``, without the limiter: the process's first request pays for lazy imports
and set-up), ``return_ids`` (true: the ``id`` of every record stored, in ``ids``), ``log`` (true: every
logger at DEBUG on stderr, to check what a run prints). Prints one JSON line: the report's counters
(``rejections``, ``effective_rate_min`` and the limiter's ``lowest_rate`` too), or ``{"error": ...}``; both
with ``finished`` (``time.time()``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

from airflow_provider_bulk_uploader import ListStore, Ratelimit, UploadedData, default_retry_policy
from airflow_provider_bulk_uploader.engine.errors import RateLimitBackendError
from airflow_provider_bulk_uploader.engine.shared_ratelimit import RedisLimiter


async def main(spec: dict) -> dict:
    rate = Ratelimit(
        spec["n"],
        timedelta(seconds=spec["period"]),
        mode=spec.get("mode", "strict"),
        burst=spec.get("burst"),
        adaptive=spec.get("adaptive", True),
    )
    timeout = spec.get("timeout", 10.0)
    limiter = RedisLimiter(
        rate,
        spec["redis"],
        spec["key"],
        attempt_timeout=timeout,
        lease_margin=spec.get("lease_margin", 10.0),
        retry_seconds=spec.get("retry_seconds", 15.0),
    )
    store = ListStore()
    seconds = spec.get("seconds")
    clock = [float("inf")]  # when the run started (UploadedData may look at the first URL before)

    def urls() -> Iterator[str]:
        for url in spec["urls"]:
            if seconds is not None and time.monotonic() - clock[0] >= seconds:
                return
            yield url

    uploader = UploadedData(
        store,
        url_maker=urls(),
        rate_limit=limiter,
        max_concurrency=spec.get("concurrency", 64),
        timeout=timeout,
        retry_policy=None
        if spec.get("default_policy")
        else default_retry_policy(spec.get("attempts", 5), initial_wait=0.05, max_wait=0.2, jitter=0.0),
        headers=spec.get("headers") or {},
        progress_interval=0,
    )
    if spec.get("warm"):
        warm_meter = {"X-Meter-Key": f"warm-{uuid.uuid4().hex}"}  # not the run's meter at a gateway
        await UploadedData(
            ListStore(), url_maker=[spec["warm"]], headers=warm_meter, progress_interval=0
        ).run()
    delay = spec.get("start_at", 0) - time.time()
    if delay > 0:
        await asyncio.sleep(delay)
    started = time.time()
    clock[0] = time.monotonic()
    try:
        report = await uploader.run()
    except RateLimitBackendError as exc:
        return {
            "error": str(exc),
            "stored": len(store.saved_data()),
            "started": started,
            "finished": time.time(),
        }
    return {
        "succeeded": report.succeeded,
        "failed": report.failed,
        "attempts": report.attempts,
        "stored": len(store.saved_data()),
        "started": started,
        "elapsed": time.time() - started,
        "acquire_calls": limiter.acquire_calls,
        "granted": limiter.granted,
        "rejections": report.rejections,
        "effective_rate_min": report.effective_rate_min,
        "lowest_rate": limiter.lowest_rate,
        **({"ids": [r.get("id") for r in store.saved_data()]} if spec.get("return_ids") else {}),
        "finished": time.time(),
    }


if __name__ == "__main__":
    if json.loads(sys.argv[1]).get("log"):
        logging.basicConfig(
            level=logging.DEBUG, stream=sys.stderr, format="%(name)s %(levelname)s %(message)s"
        )
    print(json.dumps(asyncio.run(main(json.loads(sys.argv[1])))), flush=True)
