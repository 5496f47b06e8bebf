"""Object storage on S3 for real(ish): ``moto_server`` on 127.0.0.1 behind an Airflow ``aws`` connection.

Everything goes through Airflow's own S3 filesystem (apache-airflow-providers-amazon[s3fs]: ``S3Hook`` reads
``endpoint_url`` from the connection's extras) and ``ObjectStoragePath("s3://aws_test@bucket/...")``; what
landed is checked independently with boto3. Covers: a raw write/read round trip, the provider's
``ObjectStorageStore`` (parts, manifest, failure report with redacted tokens, idempotent rerun, stale parts
removed, mapped names) and ``BulkFetchOperator.execute`` writing to ``s3://`` from the loopback demo API.

One moto server per module (Airflow caches a filesystem per conn_id); ~2 s to start.
"""

from __future__ import annotations

import asyncio
import gzip
import json
from typing import Any

import pytest

from tests.support.jsonl import read_jsonl_parts
from tests.support.moto import MotoS3, moto_s3
from tests.unit.provider.helpers import make_context, utc

RUN_ID = "scheduled__2024-01-01T00:00:00+00:00"

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

CONN_ID = "aws_test"
BUCKET = "bulk-fetch-test"
TOKEN = "s3-test-token-1a2b3c4d5e"


@pytest.fixture(scope="module")
def s3() -> Any:
    with moto_s3(bucket=BUCKET, conn_id=CONN_ID) as server, pytest.MonkeyPatch.context() as mp:
        for key, value in server.env.items():
            mp.setenv(key, value)
        # no ambient AWS configuration may leak in (profiles, real endpoints)
        for var in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
            mp.delenv(var, raising=False)
        yield server


def etags(s3: MotoS3, prefix: str) -> dict[str, str]:
    client = s3.client()
    return {key: client.head_object(Bucket=s3.bucket, Key=key)["ETag"] for key in s3.keys(prefix)}


def test_connection_is_the_json_form(s3: MotoS3) -> None:
    conn = json.loads(s3.conn_json)
    assert conn["conn_type"] == "aws"
    assert conn["extra"]["endpoint_url"].startswith("http://127.0.0.1:")
    from airflow.sdk import Connection

    got = Connection.get(CONN_ID)  # resolved from AIRFLOW_CONN_AWS_TEST
    assert got.conn_type == "aws" and got.extra_dejson["endpoint_url"] == s3.endpoint_url


def test_object_storage_path_round_trip(s3: MotoS3) -> None:
    from airflow.sdk import ObjectStoragePath

    path = ObjectStoragePath(f"s3://{CONN_ID}@{BUCKET}/prefix/x.jsonl.gz")
    records = [{"id": i, "name": f"item-{i}"} for i in range(5)]
    payload = gzip.compress("".join(json.dumps(r) + "\n" for r in records).encode(), mtime=0)
    path.write_bytes(payload)

    assert path.exists()
    assert s3.keys("prefix/") == ["prefix/x.jsonl.gz"]  # really in the bucket, seen by boto3
    assert path.read_bytes() == payload
    with path.open("rb") as fh, gzip.open(fh, "rt") as text:
        assert [json.loads(line) for line in text] == records
    # the store's own API: a fresh ObjectStoragePath built from the URL string finds it too
    listing = [p.name for p in ObjectStoragePath(f"s3://{CONN_ID}@{BUCKET}/prefix/").iterdir()]
    assert listing == ["x.jsonl.gz"]


# -- the provider's ObjectStorageStore ---------------------------------------------------------------


def _store(s3: MotoS3, base: str, *, map_index: int = -1, records_per_part: int = 3) -> Any:
    from airflow_provider_bulk_uploader.storage import ObjectStorageStore, RunMeta
    from airflow_provider_bulk_uploader.utils.intervals import Interval

    interval = Interval(utc(2024, 1, 1), utc(2024, 1, 2))
    meta = RunMeta(
        dag_id="s3_dag",
        task_id="fetch",
        run_id=RUN_ID,
        map_index=map_index,
        interval=interval,
        partition=interval.token(),
    )
    return ObjectStorageStore(s3.url(base), meta, records_per_part=records_per_part)


def _run_store(store: Any, records: list[dict], failures: list[Any] | None = None) -> dict[str, Any]:
    from airflow_provider_bulk_uploader import FetchReport

    async def go() -> None:
        await store.add_batch(records[: len(records) // 2])
        await store.add_batch(records[len(records) // 2 :])
        await store.flush()

    asyncio.run(go())
    failures = failures or []
    report = FetchReport(
        requested=len(records) + len(failures),
        succeeded=len(records),
        failed=len(failures),
        failures=failures,
        attempts=len(records) + len(failures),
        elapsed_seconds=0.1,
    )
    return store.finalize(report)


def test_store_writes_parts_then_manifest_and_reruns_idempotently(s3: MotoS3) -> None:
    from airflow.sdk import ObjectStoragePath

    records = [{"id": i, "value": i * i} for i in range(7)]
    prefix = "store/20240101T000000Z_20240102T000000Z/"
    summary = _run_store(_store(s3, "store"), records)

    expected = [prefix + n for n in ("manifest.json", *(f"part-{i:05d}.jsonl.gz" for i in range(3)))]
    assert s3.keys("store/") == expected
    assert summary["records"] == 7 and len(summary["paths"]) == 3
    assert summary["manifest"] == f"s3://{CONN_ID}@{BUCKET}/{prefix}manifest.json"

    directory = ObjectStoragePath(s3.url(prefix))
    manifest = json.loads((directory / "manifest.json").read_text())
    assert manifest["records"] == 7
    assert [p["records"] for p in manifest["parts"]] == [3, 3, 1]
    assert manifest["interval"] == {"start": "2024-01-01T00:00:00+00:00", "end": "2024-01-02T00:00:00+00:00"}
    assert manifest["failures"] is None
    assert read_jsonl_parts(directory) == records

    # rerun of the same interval: same keys, byte-identical objects, no duplicate records
    before = etags(s3, "store/")
    _run_store(_store(s3, "store"), records)
    assert etags(s3, "store/") == before
    assert read_jsonl_parts(directory) == records

    # a smaller rerun of the same interval removes the stale part instead of leaving it behind
    _run_store(_store(s3, "store"), records[:4])
    assert s3.keys("store/") == expected[:3]
    assert read_jsonl_parts(directory) == records[:4]
    assert json.loads((directory / "manifest.json").read_text())["records"] == 4


def test_store_failure_report_is_redacted_and_mapped_names_do_not_collide(s3: MotoS3) -> None:
    from airflow.sdk import ObjectStoragePath

    from airflow_provider_bulk_uploader import register_secret
    from airflow_provider_bulk_uploader.engine.report import Failure

    register_secret(TOKEN)
    failure = Failure(
        url=f"https://api.example.com/items/9?api_key={TOKEN}", status=503, error=f"boom {TOKEN}", attempts=5
    )
    for map_index in (0, 1):
        _run_store(_store(s3, "mapped", map_index=map_index), [{"id": map_index}], failures=[failure])

    prefix = "mapped/20240101T000000Z_20240102T000000Z/"
    assert s3.keys("mapped/") == [
        prefix + name
        for name in (
            "failures-m00000.jsonl",
            "failures-m00001.jsonl",
            "manifest-m00000.json",
            "manifest-m00001.json",
            "part-m00000-00000.jsonl.gz",
            "part-m00001-00000.jsonl.gz",
        )
    ]
    directory = ObjectStoragePath(s3.url(prefix))
    text = (directory / "failures-m00001.jsonl").read_text()
    assert TOKEN not in text and "503" in text
    manifest = json.loads((directory / "manifest-m00001.json").read_text())
    assert manifest["failures"] == {"path": "failures-m00001.jsonl", "count": 1}
    assert manifest["map_index"] == 1


# -- the operator, end to end to s3:// --------------------------------------------------------------


def test_operator_writes_to_s3_and_backfill_rerun_overwrites(
    s3: MotoS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airflow.sdk import ObjectStoragePath

    from airflow_provider_bulk_uploader.operators.bulk_fetch import BulkFetchOperator
    from airflow_provider_bulk_uploader.testing import running_demo_api

    with running_demo_api(token=TOKEN, auth="header", rate_limit=500, period=1.0) as api:
        conn = {"conn_type": "bulk_fetch", "host": api.url, "password": TOKEN,
                "extra": {"auth_type": "header", "auth_name": "X-API-Key"}}  # fmt: skip
        monkeypatch.setenv("AIRFLOW_CONN_BULK_FETCH_DEFAULT", json.dumps(conn))

        def run() -> dict[str, Any]:
            op = BulkFetchOperator(
                task_id="fetch",
                endpoint="/records",
                query_params={"start": "{start}", "end": "{end}"},
                record_path=".",
                store=f"s3://{CONN_ID}@{BUCKET}/daily",
                records_per_part=20,
            )
            return op.execute(
                make_context(utc(2024, 1, 1), utc(2024, 1, 3), dag_id="s3_dag", run_id=RUN_ID)
            )  # two daily chunks

        first = run()
        keys = s3.keys("daily/")
        before = etags(s3, "daily/")
        second = run()

    assert first["requested"] == 2 and first["succeeded"] == 2 and first["failed"] == 0
    assert all(p.startswith(f"s3://{CONN_ID}@{BUCKET}/daily/") for p in first["paths"])
    assert TOKEN not in json.dumps(first)
    prefix = "daily/20240101T000000Z_20240103T000000Z/"
    # 24 records a day and a part holds whole responses: one part per day (the journal is gone: finished)
    assert keys == [prefix + "manifest.json"] + [prefix + f"part-{i:05d}.jsonl.gz" for i in range(2)]

    assert s3.keys("daily/") == keys  # the rerun overwrote, it did not add
    parts_before = {k: v for k, v in before.items() if "/part-" in k}
    assert {k: v for k, v in etags(s3, "daily/").items() if "/part-" in k} == parts_before
    assert second["paths"] == first["paths"]

    directory = ObjectStoragePath(s3.url(prefix))
    records = read_jsonl_parts(directory)
    assert len(records) == 48 and len({r["id"] for r in records}) == 48  # 2 days x 24 hourly, no duplicates
    assert json.loads((directory / "manifest.json").read_text())["records"] == 48
