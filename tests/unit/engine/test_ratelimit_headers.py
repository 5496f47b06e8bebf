"""The one parser of "come back later" headers: Retry-After, the IETF draft RateLimit headers and the legacy
X-RateLimit-* forms (epoch or delta), and how they reach the error the cool-down reads."""

from __future__ import annotations

import time

import httpx
import pytest
import respx

from airflow_provider_bulk_uploader import ListStore, UploadedData
from airflow_provider_bulk_uploader.engine.retries import (
    MAX_RETRY_AFTER_SECONDS,
    parse_ratelimit_reset,
    pause_after,
)

NOW = 1_800_000_000.0


def _headers(**values: str):
    lower = {k.replace("_", "-").lower(): v for k, v in values.items()}
    return lambda name: lower.get(name.lower())


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        # IETF draft, structured-field form (draft-ietf-httpapi-ratelimit-headers -08 and later)
        ({"RateLimit": '"default";r=0;t=30'}, 30.0),
        ({"RateLimit": '"default";r=5;t=30'}, None),
        # IETF draft, earlier dictionary form
        ({"RateLimit": "limit=100, remaining=0, reset=12"}, 12.0),
        ({"RateLimit": "limit=100, remaining=3, reset=12"}, None),
        # IETF draft, separate fields (-03 .. -06)
        ({"RateLimit-Remaining": "0", "RateLimit-Reset": "7"}, 7.0),
        # legacy, delta seconds, epoch seconds (GitHub) and epoch milliseconds
        ({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "4"}, 4.0),
        ({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(NOW + 42))}, 42.0),
        ({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int((NOW + 9) * 1000))}, 9.0),
        ({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": "2.5"}, 2.5),
        ({"X-RateLimit-Remaining": "10", "X-RateLimit-Reset": "4"}, None),
        # used up, reset in the past / far future / missing / garbage
        ({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(NOW - 5))}, 0.0),
        ({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "99999"}, MAX_RETRY_AFTER_SECONDS),
        ({"X-RateLimit-Remaining": "0"}, None),
        ({"X-RateLimit-Remaining": "zero", "X-RateLimit-Reset": "4"}, None),
        ({}, None),
    ],
)
def test_parse_ratelimit_reset(headers, expected):
    assert parse_ratelimit_reset(
        _headers(**{k.replace("-", "_"): v for k, v in headers.items()}), now=NOW
    ) == (pytest.approx(expected) if expected is not None else None)


def test_pause_after_prefers_retry_after_and_only_reads_429_and_503():
    used_up = {"Retry_After": "3", "X_RateLimit_Remaining": "0", "X_RateLimit_Reset": "8"}
    assert pause_after(429, _headers(**used_up)) == 3.0
    assert pause_after(503, _headers(X_RateLimit_Remaining="0", X_RateLimit_Reset="8")) == 8.0
    assert pause_after(500, _headers(**used_up)) is None
    assert pause_after(200, _headers(**used_up)) is None
    assert pause_after(429, _headers()) is None


@respx.mock
async def test_a_429_with_ratelimit_headers_pauses_every_worker_until_the_reset():
    started = time.monotonic()
    items: list[float] = []
    respx.get("https://api.test/limited").mock(
        side_effect=[
            httpx.Response(429, headers={"RateLimit": "limit=10, remaining=0, reset=1"}),
            httpx.Response(200, json={"ok": 1}),
        ]
    )

    def item(request: httpx.Request) -> httpx.Response:
        items.append(time.monotonic() - started)
        return httpx.Response(200, json={"ok": 2})

    respx.get(url__regex=r"https://api.test/items/\d+").mock(side_effect=item)
    report = await UploadedData(
        ListStore(),
        url_maker=["https://api.test/limited"] + [f"https://api.test/items/{i}" for i in range(3)],
        max_concurrency=2,
        http_backend="httpx",
        progress_interval=0,
    ).run()
    assert report.succeeded == 4 and report.attempts == 5
    # the other worker's requests after the first one waited for the reset (1 s), not only the 429's retry
    assert items[1] >= 0.95, items
