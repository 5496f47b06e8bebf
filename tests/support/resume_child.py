"""One try of a ``BulkFetchOperator`` in its own process, for kill tests and the resume benchmark.

``python -m tests.support.resume_child '{"try": 1, "store": "file:///...", "ids": 300, ...}'`` runs
``execute()`` with a minimal context (no task state store: the progress journal next to the parts is the
checkpoint, as on Airflow 3.2) and prints ``SUMMARY <json>`` on success or ``FAILED <message>``. The API comes
from ``AIRFLOW_CONN_BULK_FETCH_DEFAULT``. Keys: ``try`` (try number), ``store``, ``ids`` (0..ids-1),
``records_per_part``, ``rate_limit_requests``, ``max_concurrency``, ``retry_max_attempts``,
``checkpoint_every_seconds``.

SIGTERM is handled as Airflow's task runner does (``signal.signal(SIGTERM, lambda *_: task.on_kill())``).
"""

from __future__ import annotations

import json
import signal
import sys
from typing import Any


class _TI:
    task_id = "fetch"
    dag_id = "resume_child"
    run_id = "manual__2024-01-01T00:00:00+00:00"
    map_index = -1

    def __init__(self, try_number: int) -> None:
        self.try_number = try_number
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


def main(argv: list[str]) -> int:
    spec = json.loads(argv[0])
    from airflow_provider_bulk_uploader.operators.bulk_fetch import BulkFetchOperator

    op = BulkFetchOperator(
        task_id="fetch",
        endpoint="/items/{id}",
        ids={"start": 0, "end": int(spec["ids"])},
        store=spec["store"],
        records_per_part=int(spec.get("records_per_part", 20)),
        rate_limit_requests=spec.get("rate_limit_requests"),
        max_concurrency=spec.get("max_concurrency"),
        retry_max_attempts=spec.get("retry_max_attempts"),
        checkpoint_every_seconds=spec.get("checkpoint_every_seconds", 60.0),
    )
    signal.signal(signal.SIGTERM, lambda signum, frame: op.on_kill())  # what the task runner does
    ti = _TI(int(spec["try"]))
    context = {"ti": ti, "task_instance": ti, "run_id": ti.run_id}
    print("STARTED", flush=True)
    try:
        summary = op.execute(context)
    except Exception as exc:
        print(f"FAILED {type(exc).__name__}: {exc}", flush=True)
        return 1
    print("SUMMARY " + json.dumps(summary), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
