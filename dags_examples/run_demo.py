"""``make demo``: run an example DAG end to end against the loopback demo API, with an embedded Airflow.

Steps: set up ``.airflow/`` in the repo (SQLite metadata DB, git-ignored), ``airflow db migrate``, start the
demo API on a free 127.0.0.1 port (its own rate limit, random 503s and 429s), define the
``bulk_fetch_default`` connection through ``AIRFLOW_CONN_BULK_FETCH_DEFAULT`` (JSON, with a random token), run
``airflow dags test bulk_fetch_mapped_ids 2024-01-01``, print where the data landed and the summary, stop the
API. Exits non-zero if any step fails. Rerunning overwrites the same files (same logical date -> same names).

``make demo-paginated`` (``python -m dags_examples.run_demo --paginated``) runs ``bulk_fetch_paginated_daily``
instead: one day, each day's cursor-paginated ``/pages/cursor`` stream followed to its last page, and prints
the pages and records per stream from the manifest.

Environment knobs: ``DEMO_LAST_ID`` (default 600: ids 1..600), ``DEMO_CHUNK_SIZE`` (default 150 ids per mapped
task), ``DEMO_API_RATE_LIMIT`` (server limit per second, default 50), ``DEMO_CLIENT_RATE_LIMIT`` (the
connection's, default 40).
"""

from __future__ import annotations

import gzip
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
HOME = REPO / ".airflow"
DATA = HOME / "data"
DAG_ID = "bulk_fetch_mapped_ids"
LOGICAL_DATE = "2024-01-01T00:00:00+00:00"
BIN = Path(sys.executable).parent


def say(message: str) -> None:
    print(f"\n==> {message}", flush=True)


def airflow_env(api_url: str | None, token: str) -> dict[str, str]:
    env = dict(os.environ)
    for key in [k for k in env if k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_"))]:
        del env[key]  # a stray user setting must not redirect the demo
    env.update(
        {
            "AIRFLOW_HOME": str(HOME),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags_examples"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{HOME / 'airflow.db'}",
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
            "AIRFLOW_VAR_BULK_FETCH_DATA_URL": DATA.as_uri(),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
        }
    )
    if api_url:
        env["AIRFLOW_CONN_BULK_FETCH_DEFAULT"] = json.dumps(
            {
                "conn_type": "bulk_fetch",
                "host": api_url,
                "password": token,
                "extra": {
                    "auth_type": "header",
                    "auth_name": "X-API-Key",
                    "rate_limit_requests": int(os.environ.get("DEMO_CLIENT_RATE_LIMIT", "40")),
                    "rate_limit_period_seconds": 1,
                    "test_path": "/health",
                },
            }
        )
    return env


def start_api(token: str) -> tuple[subprocess.Popen[str], str]:
    env = dict(os.environ, DEMO_API_TOKEN=token)
    cmd = [
        sys.executable, "-m", "airflow_provider_bulk_uploader.testing.demo_api",
        "--port", "0",
        "--rate-limit", os.environ.get("DEMO_API_RATE_LIMIT", "50"),
        "--fault-rate", "0.03", "--fault-429-rate", "0.02", "--fault-retry-after", "1",
        "--auth", "header",
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line.startswith("listening on "):
        proc.kill()
        raise RuntimeError(f"demo API did not start (said {line!r})")
    return proc, line.removeprefix("listening on ")


def stop_api(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


def api_stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url + "/_stats", timeout=5) as response:
        return json.loads(response.read())


def summarize(expected_ids: int) -> int:
    out = DATA / "items"
    manifests = sorted(out.glob("*/manifest*.json"))
    if not manifests:
        print(f"no manifest found under {out}", file=sys.stderr)
        return 1
    directories = sorted({m.parent for m in manifests})
    say(f"Data landed in {', '.join(str(d) for d in directories)}")
    totals = {"requested": 0, "succeeded": 0, "failed": 0, "attempts": 0}
    for manifest_path in manifests:
        manifest = json.loads(manifest_path.read_text())
        report = manifest["report"]
        for key in totals:
            totals[key] += report[key]
        parts = ", ".join(f"{p['path']} ({p['records']} records)" for p in manifest["parts"])
        print(
            f"  map index {manifest['map_index']}: {report['succeeded']}/{report['requested']} ok, "
            f"{report['attempts']} requests, {report['elapsed_seconds']} s -> {parts}"
        )
    ids: set[int] = set()
    sample = None
    for part in sorted(directories[0].glob("part-*.jsonl*")):
        data = part.read_bytes()
        text = gzip.decompress(data).decode() if part.suffix == ".gz" else data.decode()
        records = [json.loads(line) for line in text.splitlines() if line]
        ids |= {r["id"] for r in records}
        sample = sample or (records[0] if records else None)
    say("Summary")
    print(
        f"  requests: {totals['requested']} URLs, {totals['succeeded']} succeeded, "
        f"{totals['failed']} failed, "
        f"{totals['attempts']} HTTP requests sent (retries of the demo API's 429/503 included)"
    )
    print(f"  records on disk: {len(ids)} distinct ids (expected {expected_ids})")
    print(f"  a record: {json.dumps(sample)}")
    return 0 if totals["failed"] == 0 and len(ids) == expected_ids else 1


def summarize_paginated() -> int:
    """Print the paginated demo's manifest: pages and records per stream; 0 when every stream is complete."""
    manifests = sorted((DATA / "paginated_daily").glob("*/manifest*.json"))
    if not manifests:
        print(f"no manifest found under {DATA / 'paginated_daily'}", file=sys.stderr)
        return 1
    manifest = json.loads(manifests[0].read_text())
    report = manifest["report"]
    say(f"Data landed in {manifests[0].parent}")
    for stream in report["per_stream"]:
        print(
            f"  stream {stream['url']}: {stream['pages']} pages, {stream['records']} records, "
            f"{'complete' if stream['complete'] else 'INCOMPLETE'} ({stream['stop']})"
        )
    say("Summary")
    print(
        f"  {report['streams']} stream(s), {report['pages']} pages, {report['records']} records "
        f"({manifest['records']} on disk), {report['failed']} failed pages, "
        f"{report['attempts']} HTTP requests"
    )
    expected = 24 * 60  # one record a minute for the one day
    ok = report["incomplete_streams"] == 0 and manifest["records"] == expected
    return 0 if ok else 1


def main_paginated(token: str) -> int:
    say("Starting the demo API on 127.0.0.1 (rate limit)")
    proc, url = start_api(token)
    print(f"  {url}")
    try:
        shutil.rmtree(DATA / "paginated_daily", ignore_errors=True)
        dag_id, logical_date = "bulk_fetch_paginated_daily", "2024-01-02T00:00:00+00:00"
        say(f"airflow dags test {dag_id} {logical_date}")
        result = subprocess.run(
            [str(BIN / "airflow"), "dags", "test", dag_id, logical_date],
            env=airflow_env(url, token),
            cwd=REPO,
            check=False,
        )
        if result.returncode != 0:
            print(f"\nDEMO FAILED: airflow dags test exited with {result.returncode}", file=sys.stderr)
            return result.returncode
        status = summarize_paginated()
        if status:
            print("\nDEMO FAILED: the data on disk does not match the run", file=sys.stderr)
        else:
            say("Paginated demo OK.")
        return status
    finally:
        stop_api(proc)


def main() -> int:
    last_id = int(os.environ.get("DEMO_LAST_ID", "600"))
    chunk = int(os.environ.get("DEMO_CHUNK_SIZE", "150"))
    token = secrets.token_urlsafe(16)
    HOME.mkdir(exist_ok=True)
    say(f"Airflow home {HOME} (SQLite); migrating the metadata database")
    started = time.monotonic()
    subprocess.run(
        [str(BIN / "airflow"), "db", "migrate"],
        env=airflow_env(None, token),
        cwd=REPO,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    print(f"  done in {time.monotonic() - started:.0f} s")
    if "--paginated" in sys.argv[1:]:
        return main_paginated(token)
    say("Starting the demo API on 127.0.0.1 (rate limit, injected 503s and 429s)")
    proc, url = start_api(token)
    print(f"  {url}")
    try:
        shutil.rmtree(DATA / "items", ignore_errors=True)
        conf = {"first_id": 1, "last_id": last_id, "chunk_size": chunk}
        say(f"airflow dags test {DAG_ID} {LOGICAL_DATE} -c '{json.dumps(conf)}'")
        result = subprocess.run(
            [str(BIN / "airflow"), "dags", "test", DAG_ID, LOGICAL_DATE, "-c", json.dumps(conf)],
            env=airflow_env(url, token),
            cwd=REPO,
            check=False,
        )
        stats = api_stats(url)
        if result.returncode != 0:
            print(f"\nDEMO FAILED: airflow dags test exited with {result.returncode}", file=sys.stderr)
            return result.returncode
        status = summarize(expected_ids=last_id)
        print(
            f"  demo API saw {stats['total']} requests: {stats['by_status']} "
            f"({stats['rate_limited']} rate-limited by the server, {stats['faults']} injected faults)"
        )
        if stats["rate_limited"]:
            print(
                "  (the server rate-limited requests although each task stays under its limit and waits\n"
                "   out its window before finishing: is another client using the demo API? The engine\n"
                "   waited Retry-After and retried)"
            )
        if status:
            print("\nDEMO FAILED: the data on disk does not match the run", file=sys.stderr)
        else:
            say("Demo OK. Run it again: the same files are overwritten, nothing is duplicated.")
        return status
    finally:
        stop_api(proc)


if __name__ == "__main__":
    sys.exit(main())
