"""What resuming saves: requests sent for a 10 000-unit task instance killed at 50 % and retried, and how long
a worker slot is held during a 10-minute quota wait with deferral.

1. ``kill``: one try of ``BulkFetchOperator`` runs in a child process (``tests/support/resume_child.py``,
   progress journal next to the parts, SIGTERM handled as Airflow's task runner does: ``on_kill``), against
   the demo API in this process; at 50 % of the units served it is killed — SIGTERM (flush + checkpoint) or
   SIGKILL (no flush) — and a second child runs try 2. The demo API counts every ``/items`` request. Baseline
   in the same run: what a retry without a checkpoint sends (10 000 + what try 1 sent).
2. ``defer``: the demo API's quota runs out after 2 000 requests with ``Retry-After: 600`` (10 minutes). The
   operator (in this process, ``deferrable=True``) raises ``TaskDeferred``; the figure is the time the
   ``execute()`` call held the slot from the first 429 to the deferral, and the time ``execute_complete``
   took after the quota reset. Baseline: without deferral the slot is held for the whole 600 s.

    .venv/bin/python benchmarks/resume.py                # both, 10 000 units
    .venv/bin/python benchmarks/resume.py --units 2000 --only kill
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
TOKEN = "bench-resume-token"


def _conn(url: str) -> str:
    return json.dumps(
        {"conn_type": "bulk_fetch", "host": url, "password": TOKEN, "extra": {"auth_type": "header"}}
    )


def _items(api: Any, start: int = 0) -> list[Any]:
    return [r for r in api.requests[start:] if r.route == "/items/{id}"]


def kill_and_retry(
    units: int, sig: signal.Signals, records_per_part: int, rate: int, checkpoint_every: float | None = 60.0
) -> dict[str, Any]:
    from airflow_provider_bulk_uploader.testing import running_demo_api
    from tests.support.processes import airflow_env, stop_process_group

    with tempfile.TemporaryDirectory(prefix="bench-resume-") as tmp, running_demo_api(token=TOKEN) as api:
        home = Path(tmp) / "home"
        home.mkdir()
        env = airflow_env(home, f"sqlite:///{home / 'airflow.db'}")
        env["AIRFLOW_CONN_BULK_FETCH_DEFAULT"] = _conn(api.url)
        spec = {
            "store": f"file://{tmp}/out",
            "ids": units,
            "records_per_part": records_per_part,
            "rate_limit_requests": rate,
            "max_concurrency": 64,
            "checkpoint_every_seconds": checkpoint_every,
        }

        def child(try_number: int) -> subprocess.Popen[str]:
            return subprocess.Popen(
                [sys.executable, "-m", "tests.support.resume_child", json.dumps({**spec, "try": try_number})],
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )

        first = child(1)
        try:
            deadline = time.monotonic() + 300
            while len(_items(api)) < units // 2:
                if first.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"try 1 ended early: {first.stdout.read()[-2000:]}")  # type: ignore[union-attr]
                time.sleep(0.01)
            os.kill(first.pid, sig)
            first.wait(timeout=60)
        finally:
            stop_process_group(first)
        try_1 = len(_items(api))
        second = child(2)
        try:
            output, _ = second.communicate(timeout=600)
        finally:
            stop_process_group(second)
        if second.returncode != 0:
            raise SystemExit(f"try 2 failed: {output[-3000:]}")
        summary = json.loads(output.split("SUMMARY ", 1)[1].splitlines()[0])
        requests = _items(api)
        ok = Counter(r.path for r in requests if r.status == 200)
    return {
        "signal": sig.name,
        "records_per_part": records_per_part,
        "checkpoint_every_seconds": checkpoint_every,
        "try_1_requests": try_1,
        "try_2_requests": len(requests) - try_1,
        "total_requests": len(requests),
        "units_fetched_twice": sum(1 for n in ok.values() if n > 1),
        "units_skipped_by_try_2": summary["units_skipped"],
        "records": summary["records"],
        "baseline_without_checkpoint": try_1 + units,
    }


def deferral(units: int, wait_seconds: int) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="bench-defer-"))
    os.environ.update(AIRFLOW_HOME=str(home), AIRFLOW__CORE__LOAD_EXAMPLES="False")
    from airflow.sdk.exceptions import TaskDeferred

    from airflow_provider_bulk_uploader.operators.bulk_fetch import BulkFetchOperator
    from airflow_provider_bulk_uploader.testing import running_demo_api
    from tests.support.resume_child import _TI

    with running_demo_api(token=TOKEN) as api:
        os.environ["AIRFLOW_CONN_BULK_FETCH_DEFAULT"] = _conn(api.url)
        api.cutoff.set(after=units // 5, retry_after=wait_seconds)
        op = BulkFetchOperator(
            task_id="fetch",
            endpoint="/items/{id}",
            ids={"start": 0, "end": units},
            store=f"file://{home}/out",
            deferrable=True,
        )
        ti = _TI(1)
        context = {"ti": ti, "task_instance": ti, "run_id": ti.run_id}
        started = time.monotonic()
        try:
            op.execute(context)
            raise SystemExit("the task did not defer")
        except TaskDeferred as deferred:
            deferred_at = time.monotonic()
            moment = deferred.trigger.moment  # type: ignore[attr-defined]
        first_429 = min(r.arrival for r in api.requests if r.status == 429)
        refused = sum(1 for r in api.requests if r.status == 429)
        api.cutoff.set(None)  # the quota resets (instead of sleeping 10 minutes here)
        resumed = time.monotonic()
        summary = op.execute_complete(context, event=None)
        done = time.monotonic()
    ok = Counter(r.path for r in api.requests if r.status == 200)
    return {
        "quota_wait_seconds": wait_seconds,
        "deferred_for_seconds": round(moment.timestamp() - time.time() + (time.monotonic() - deferred_at), 1),
        "slot_held_after_first_429_seconds": round(deferred_at - first_429, 3),
        "execute_seconds": round(deferred_at - started, 3),
        "execute_complete_seconds": round(done - resumed, 3),
        "requests_refused_429": refused,
        "units_fetched_twice": sum(1 for n in ok.values() if n > 1),
        "records": summary["records"],
        "baseline_slot_held_seconds": wait_seconds,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--units", type=int, default=10_000)
    parser.add_argument("--rate", type=int, default=2000, help="client rate limit, requests/s (default 2000)")
    parser.add_argument("--only", choices=("kill", "defer"), default=None)
    args = parser.parse_args()
    failed = False
    if args.only in (None, "kill"):
        for sig, per_part, every in (
            (signal.SIGTERM, 10_000, 60.0),
            (signal.SIGKILL, 500, 60.0),
            (signal.SIGKILL, 10_000, 60.0),
            (signal.SIGKILL, 10_000, 0.5),
        ):
            row = kill_and_retry(args.units, sig, per_part, args.rate, every)
            print(json.dumps(row))
            failed |= row["records"] != args.units
            if sig is signal.SIGTERM:
                failed |= row["total_requests"] > args.units + 64  # <= units + in flight (concurrency 64)
    if args.only in (None, "defer"):
        row = deferral(args.units, 600)
        print(json.dumps(row))
        failed |= row["slot_held_after_first_429_seconds"] > 10 or row["units_fetched_twice"] > 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
