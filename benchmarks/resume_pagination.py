"""What resuming saves with pagination: requests at the server for one paginated stream cut off at 50 % and
retried (try 2 with the checkpoint of try 1), and for a long quota wait in the middle of a stream.

``BulkFetchOperator`` runs in this process against the demo API (``/pages/cursor`` and ``/pages/offset``,
``--pages`` pages of 10 records); the checkpoint is the progress journal next to the parts (Airflow 3.2's
path; the task state store records the same). Try 1 loses every request after half the pages
(``/_cutoff``, ``retry_max_attempts=1``: for a cursor stream only the next page is requested, the fanned-out
offset pages are all requested and the second half is dropped). Baseline in the same run: what a retry
without a checkpoint sends (every page again).

    .venv/bin/python benchmarks/resume_pagination.py             # 1 000 pages
    .venv/bin/python benchmarks/resume_pagination.py --pages 200
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
TOKEN = "bench-resume-pages-token"
STYLES = {
    "cursor": {"type": "cursor", "cursor_path": "meta.next_cursor", "cursor_param": "cursor"},
    "offset": {"type": "offset", "limit": 10},
}


def _conn(url: str) -> str:
    return json.dumps(
        {"conn_type": "bulk_fetch", "host": url, "password": TOKEN, "extra": {"auth_type": "header"}}
    )


def _pages(api: Any) -> list[Any]:
    return [r for r in api.requests if r.route == "/pages/{style}"]


def cut_and_retry(style: str, pages: int, home: Path) -> dict[str, Any]:
    from airflow_provider_bulk_uploader.exceptions import BulkFetchFailuresError
    from airflow_provider_bulk_uploader.operators.bulk_fetch import BulkFetchOperator
    from airflow_provider_bulk_uploader.testing import running_demo_api
    from tests.support.resume_child import _TI

    out = home / f"out-{style}"
    with running_demo_api(token=TOKEN, rate_limit=100_000) as api:
        os.environ["AIRFLOW_CONN_BULK_FETCH_DEFAULT"] = _conn(api.url)
        size = {"cursor": {"size": 10}, "offset": {}}[style]

        def execute(try_number: int) -> dict[str, Any]:
            op = BulkFetchOperator(
                task_id="fetch",
                endpoint=f"/pages/{style}",
                query_params={"n": pages * 10, **size},
                pagination=STYLES[style],
                record_path="data",
                store=f"file://{out}",
                retry_max_attempts=1,
                records_per_part=500,
                max_concurrency=16,
            )
            ti = _TI(try_number)
            return op.execute({"ti": ti, "task_instance": ti, "run_id": ti.run_id})

        api.cutoff.set(after=pages // 2, count=pages)
        started = time.monotonic()
        try:
            execute(1)
            raise SystemExit("try 1 did not fail")
        except BulkFetchFailuresError:
            pass
        try_1 = len(_pages(api))
        api.cutoff.set(None)
        summary = execute(2)
        elapsed = time.monotonic() - started
        requests = _pages(api)
    served = Counter((r.query.get("cursor"), r.query.get("offset")) for r in requests if r.status == 200)
    return {
        "style": style,
        "pages": pages,
        "try_1_requests": try_1,
        "try_2_requests": len(requests) - try_1,
        "total_requests": len(requests),
        "pages_served_twice": sum(1 for n in served.values() if n > 1),
        "records": summary["records"],
        "pages_skipped": summary["pages_skipped"],
        "baseline_total_without_checkpoint": try_1 + pages,
        "seconds": round(elapsed, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=1000)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bench-resume-pages-"))
    os.environ.update(AIRFLOW_HOME=str(home), AIRFLOW__CORE__LOAD_EXAMPLES="False")
    failed = False
    for style in STYLES:
        row = cut_and_retry(style, args.pages, home)
        print(json.dumps(row))
        failed |= row["records"] != args.pages * 10 or row["pages_served_twice"] > 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
