"""engine/shared/snapshot.py against a real redis-server: what two limiters on one key hold (slots used,
in flight, a process waiting), a bucket's tokens, a shared pause and the rejection counter written by
lua/pause.lua, the declared quota the limiter writes into ``meta``, key names with braces and colons, and
nothing in the result that identifies a client or a grant."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest

from airflow_provider_bulk_uploader import Ratelimit
from airflow_provider_bulk_uploader.engine import defaults
from airflow_provider_bulk_uploader.engine.shared.snapshot import (
    budget_keys,
    decode,
    read_budget,
    read_budgets,
)
from airflow_provider_bulk_uploader.engine.shared_ratelimit import RedisLimiter
from tests.support.redis import redis_or_skip
from tests.support.shared_limit import mark_unused

pytestmark = [pytest.mark.integration, pytest.mark.redis]


@pytest.fixture(scope="module")
def server():
    with redis_or_skip() as server:
        yield server


@pytest.fixture
def client(server):
    client = server.client()
    client.flushdb()
    yield client
    client.close()


async def test_two_limiters_on_one_key(server, client) -> None:
    rate = Ratelimit(4, timedelta(seconds=60), burst=4)  # all 4 at once (paced: one per 15 s)
    key = "vendor:{eu}"  # a colon and braces in the name
    mark_unused(client, key, 4)
    first = RedisLimiter(rate, server.url, key)
    second = RedisLimiter(rate, server.url, key)
    try:
        held = [await first.acquire() for _ in range(3)]
        held.append(await second.acquire())
        waiting = asyncio.ensure_future(second.acquire())  # no slot left: the second process waits
        await asyncio.sleep(0.3)
        assert not waiting.done()
        budget = read_budget(client, key)
        assert budget["key"] == key
        assert (budget["mode"], budget["num_requests"], budget["period_seconds"]) == ("strict", 4, 60.0)
        assert budget["declared_rate"] == pytest.approx(4 / 60, rel=1e-5)
        assert budget["used_in_window"] == 4 and budget["in_flight"] == 4
        assert budget["waiting_processes"] == 1 and budget["slots_wanted"] == 1
        assert budget["processes"] == 2 and budget["active"] is True
        assert budget["burst"] == rate.effective_burst == 4  # the declared burst
        assert budget["effective_rate"] == pytest.approx(4 / 60, rel=1e-5)  # not adapted
        assert budget["effective_burst"] == 4
        assert budget["cooldown_until"] is None

        first.release(held[0])  # back in the window: used until a period after its release
        await asyncio.sleep(0.2)
        budget = read_budget(client, key)
        assert budget["in_flight"] == 3 and budget["used_in_window"] == 4

        first.pause(30.0)  # a 429: the shared cool-down, counted as a rejection
        first.pause(30.0)
        await asyncio.sleep(0.2)
        budget = read_budget(client, key)
        assert 29 < budget["cooldown_seconds"] <= 30 and budget["cooldown_until"] > budget["now"]
        assert budget["rejections_last_hour"] == 2
        ttl = client.ttl(f"{defaults.SHARED_KEY_PREFIX}{{{key}}}:rejections")
        assert 3600 < ttl <= 3660
        text = json.dumps(budget)
        for grant in client.hvals(f"{defaults.SHARED_KEY_PREFIX}{{{key}}}:owner"):
            assert grant.decode().split(":")[0] not in text  # no client id, no grant
        waiting.cancel()
        await asyncio.gather(waiting, return_exceptions=True)
    finally:
        await first.aclose()
        await second.aclose()


async def test_a_bucket(server, client) -> None:
    mark_unused(client, "bucket-key")  # last used a day ago: a full bucket
    rate = Ratelimit(10, timedelta(seconds=10), mode="bucket", burst=10)
    limiter = RedisLimiter(rate, server.url, "bucket-key")
    try:
        for _ in range(6):
            await limiter.acquire()
        budget = read_budget(client, "bucket-key")
        assert (budget["mode"], budget["num_requests"], budget["period_seconds"]) == ("bucket", 10, 10.0)
        assert budget["used_in_window"] == 6  # 6 tokens taken of a bucket of 10, one comes back per second
        assert budget["in_flight"] is None and budget["waiting_processes"] is None  # a bucket holds none
        # a rejection: the pace of the key is lowered (x 0.7) and so is the bucket (x 0.7: 7 tokens)
        loop = asyncio.get_running_loop()
        assert limiter.on_rejection(loop.time(), 429) == pytest.approx(0.7)
        await asyncio.sleep(0.05)
        budget = read_budget(client, "bucket-key")
        # climbing back by the declared rate per second: the burst returns with the declared rate, in 0.3 s
        assert budget["effective_burst"] == 7 and 0.7 < budget["effective_rate"] < 1.0
        # the burst credit was taken back: the bucket is empty to the next token, one new interval away
        assert budget["used_in_window"] == 7
        assert budget["rejections_last_hour"] == 1  # counted for the page, without a pause
    finally:
        await limiter.aclose()


async def test_the_listing_finds_every_family_and_nothing_else(server, client) -> None:
    client.set("bulkfetch:ratelimit:not-a-family", 1)
    client.set("something:else", 1)
    client.hset("bulkfetch:ratelimit:{old}:meta", mapping={"n": 3, "last": 1})  # an old strict budget
    mark_unused(client, "a:b}c", 2)
    limiter = RedisLimiter(Ratelimit(2, timedelta(seconds=1)), server.url, "a:b}c")
    try:
        await limiter.acquire()
    finally:
        await limiter.aclose()
    assert budget_keys(client) == (["a:b}c", "old"], False)
    assert budget_keys(client, max_scanned=1)[1] in (True, False)  # bounded (one SCAN page may hold all)
    listing = read_budgets(client)
    assert [b["key"] for b in listing["budgets"]] == ["a:b}c", "old"]  # active first
    old = listing["budgets"][1]
    assert old["active"] is False and old["num_requests"] == 3 and old["period_seconds"] is None
    assert old["idle_seconds"] > 1e6
    assert read_budgets(client, max_budgets=1)["truncated"] is True


def test_decode_of_an_empty_state_is_all_unknown() -> None:
    budget = decode("k", {"time": (1_700_000_000, 0)})
    assert budget["mode"] is None and budget["used_in_window"] is None and budget["active"] is False
    assert budget["rejections_last_hour"] == 0 and budget["now"].startswith("2023-11-14T22:13:20")
    # the adapted rate shared in the pace hash: lowered to 14/s of 20/s a second ago, climbing 20/s per second
    meta = {
        b"declared_mode": b"strict",
        b"declared_n": b"20",
        b"declared_period_us": b"1000000",
        b"declared_burst": b"4",
    }
    pace = {
        b"low": b"14",
        b"ceiling": b"20",
        b"below": b"0",
        b"since": b"1500000",
        b"burst": b"2",
        b"decreases": b"1",
    }
    adapted = decode("k", {"time": (1, 600000), "meta": meta, "pace": pace})
    assert adapted["effective_rate"] == pytest.approx(16.0) and adapted["effective_burst"] == 2
    assert decode("k", {"time": (9, 0), "meta": meta, "pace": pace})["effective_rate"] == 20.0  # back
    assert decode("k", {"time": (9, 0), "meta": meta, "pace": pace})["effective_burst"] == 4
    assert decode("k", {"time": (1, 0), "meta": meta})["effective_rate"] == 20.0  # never adapted
    # minutes older than an hour do not count
    minute = 1_700_000_000 // 60
    rejections = {str(minute): "2", str(minute - 59): "3", str(minute - 60): "7"}
    assert decode("k", {"time": (1_700_000_000, 0), "rejections": rejections})["rejections_last_hour"] == 5
