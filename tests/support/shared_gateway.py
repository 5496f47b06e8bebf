"""K engine processes sharing one Redis budget against a real gateway (:mod:`.gateways`), for tests and
benchmarks: each process is a :mod:`.shared_worker` with a share of the ids, all sending the same
``X-Meter-Key`` (one meter at the gateway, as one API key would be), started together, counted at the
gateway (its log) and in the stores.

Usage::

    run = shared_run(gateway, redis_url, key, {"n": 20, "period": 1.0}, processes=3, ids=100)
    run.delivered, run.rejections, sorted(run.stored_ids)
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from tests.support.gateways import Gateway, GatewayRun
from tests.support.processes import stop_process_group

__all__ = ["shared_run"]

ROOT = Path(__file__).resolve().parents[2]
#: seconds between starting the processes and their first request (imports, the warm-up request)
START_DELAY_SECONDS = 4.0


def shared_run(
    gateway: Gateway,
    redis_url: str,
    key: str,
    rate: dict[str, Any],
    *,
    processes: int = 3,
    ids: int = 100,
    concurrency: int = 16,
    seconds: float | None = None,
    timeout: float = 120.0,
) -> GatewayRun:
    """Fetch ``/items/0..ids-1`` through ``gateway`` with ``processes`` processes on one budget ``key`` in
    Redis at ``redis_url``; ``rate``: the worker spec's rate fields (``n``, ``period``, ``mode``, ``burst``,
    ``adaptive``). With ``seconds``, each process stops taking ids after that long. The engine's default
    retry policy, as a new user has it. ``wall_seconds`` counts from the common start to the last process's
    end; ``report`` is the list of the workers' results."""
    meter = uuid.uuid4().hex  # a clean meter at the gateway for this run, shared by every process
    start_at = time.time() + START_DELAY_SECONDS
    mark = gateway.mark()
    procs: list[subprocess.Popen[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="bulkfetch-shared-gw-") as tmp:
        outputs = [Path(tmp) / f"worker-{p}.out" for p in range(processes)]
        try:
            for p in range(processes):
                spec = {
                    **rate,
                    "redis": redis_url,
                    "key": key,
                    "urls": [f"{gateway.url}/items/{i}" for i in range(p, ids, processes)],
                    "start_at": start_at,
                    "concurrency": concurrency,
                    "headers": {"X-Meter-Key": meter},
                    "default_policy": True,
                    "seconds": seconds,
                    "warm": f"{gateway.url}/items/0?warm={p}",
                    "return_ids": True,
                    "timeout": 30.0,
                }
                with outputs[p].open("wb") as out, (Path(tmp) / f"worker-{p}.log").open("wb") as log:
                    procs.append(  # its own session: stop_process_group reaches all of it
                        subprocess.Popen(
                            [sys.executable, "-m", "tests.support.shared_worker", json.dumps(spec)],
                            cwd=ROOT,
                            stdout=out,
                            stderr=log,
                            start_new_session=True,
                        )
                    )
            deadline = time.monotonic() + START_DELAY_SECONDS + timeout
            for proc in procs:
                proc.wait(timeout=max(1.0, deadline - time.monotonic()))
            results = []
            for p, path in enumerate(outputs):
                lines = path.read_text().strip().splitlines()
                if not lines:
                    log = (Path(tmp) / f"worker-{p}.log").read_text()[-3000:]
                    raise RuntimeError(f"worker {p} printed nothing: {log}")
                results.append(json.loads(lines[-1]))
        finally:
            for proc in procs:
                if proc.poll() is None:
                    stop_process_group(proc, grace_seconds=5)
    time.sleep(0.05)  # the gateway writes its last log lines
    errors = [r["error"] for r in results if "error" in r]
    if errors:
        raise RuntimeError(f"a worker failed: {errors}")
    return GatewayRun(
        succeeded=sum(r["succeeded"] for r in results),
        failed=sum(r["failed"] for r in results),
        attempts=sum(r["attempts"] for r in results),
        stored_ids=[i for r in results for i in r["ids"]],
        wall_seconds=max(r["finished"] for r in results) - start_at,
        answers=[a for a in gateway.answers_since(mark) if "warm=" not in a[2]],
        rate=float(gateway.config.rate),
        report=results,
    )
