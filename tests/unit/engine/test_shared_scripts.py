"""The shared limiter's Lua scripts are package data (``engine/shared/lua/*.lua``), read once; each
strategy registers only the scripts it runs."""

from __future__ import annotations

import pytest

from airflow_provider_bulk_uploader import Ratelimit
from airflow_provider_bulk_uploader.engine.shared import scripts
from airflow_provider_bulk_uploader.engine.shared.strategies import (
    BucketBudget,
    Budget,
    SlotBudget,
    new_strategy,
)


@pytest.mark.parametrize("name", scripts.NAMES)
def test_every_script_loads_from_the_package_and_is_read_once(name):
    text = scripts.source(name)
    assert "redis.call('TIME')" in text and text.rstrip().splitlines()[-1].startswith("return")
    assert scripts.source(name) is text  # cached: read from the package once


def test_an_unknown_script_is_named_in_the_error():
    with pytest.raises(ValueError, match="'acquire2'"):
        scripts.source("acquire2")


@pytest.mark.parametrize(("mode", "kind"), [("strict", SlotBudget), ("bucket", BucketBudget)])
def test_one_strategy_per_mode_and_its_scripts_exist(mode, kind):
    strategy = new_strategy(Budget.of(Ratelimit(5, mode=mode), "k", 40.0))
    assert isinstance(strategy, kind)
    assert set(strategy.scripts) <= set(scripts.NAMES)


def test_the_budget_keys_share_one_cluster_hash_slot_and_outlive_a_period_and_a_lease():
    budget = Budget.of(Ratelimit(5), "vendor", 40.0)
    assert budget.keys.of("ready", "pause") == [
        "bulkfetch:ratelimit:{vendor}:ready",
        "bulkfetch:ratelimit:{vendor}:pause",
    ]
    assert budget.ttl_ms >= 2 * (40_000 + 1_000)


def test_the_scripts_that_read_a_budget_start_with_the_shared_helpers():
    for name in ("acquire", "bucket"):
        text = scripts.source(name)
        assert text.index("local function proven_unused") < text.index("local now = clock()"), name
    assert "proven_unused" not in scripts.source("release") + scripts.source("pause")
