"""The shared-rate-limit extras of a ``bulk_fetch`` connection (``rate_limit_scope``, ``rate_limit_key``,
``redis_conn_id``, ``rate_limit_mode``): validation, what the hook builds, loud failure without Redis, and
the operator's start line (effective concurrency). The Redis-backed runs are in
``tests/integration/test_shared_ratelimit.py`` and ``test_celery_shared_ratelimit.py``."""

from __future__ import annotations

import json

import pytest

from airflow_provider_bulk_uploader import ListStore, Ratelimit
from airflow_provider_bulk_uploader.engine.errors import RateLimitBackendError
from airflow_provider_bulk_uploader.engine.shared_ratelimit import RedisLimiter
from airflow_provider_bulk_uploader.get_provider_info import get_provider_info
from airflow_provider_bulk_uploader.hooks.bulk_fetch import BulkFetchConfigError, BulkFetchHook
from airflow_provider_bulk_uploader.operators.bulk_fetch import BulkFetchOperator
from tests.support.postgres import free_port

from ..conftest import conn_json
from ..helpers import make_context, utc

REDIS_PASSWORD = "redis-pass-5e4d3c"


@pytest.fixture
def conns(monkeypatch: pytest.MonkeyPatch):
    def _set(url: str = "http://127.0.0.1:9", redis_port: int | None = None, **extra):
        monkeypatch.setenv("AIRFLOW_CONN_API", conn_json(url, **extra))
        if redis_port is not None:
            monkeypatch.setenv(
                "AIRFLOW_CONN_LIMITS",
                json.dumps(
                    {
                        "conn_type": "redis",
                        "host": "127.0.0.1",
                        "port": redis_port,
                        "password": REDIS_PASSWORD,
                        "extra": {"db": 2},
                    }
                ),
            )

    return _set


def test_the_form_declares_the_four_fields():
    fields = get_provider_info()["connection-types"][0]["conn-fields"]
    assert fields["rate_limit_scope"]["schema"]["enum"][:2] == ["task", "shared"]
    assert fields["rate_limit_mode"]["schema"]["enum"][:2] == ["strict", "bucket"]
    for name in ("rate_limit_scope", "rate_limit_key", "redis_conn_id", "rate_limit_mode"):
        assert len(fields[name]["description"]) > 40, name


def test_defaults_are_task_scope_strict_mode_in_process(conns):
    conns(rate_limit_requests=5)
    hook = BulkFetchHook("api")
    s = hook.get_settings()
    assert (s.rate_limit_scope, s.rate_limit_mode, s.rate_limit_key, s.redis_conn_id) == (
        "task",
        "strict",
        "api",
        None,
    )
    rate = hook.build_uploader([], ListStore()).rate_limit
    assert isinstance(rate, Ratelimit) and rate.mode == "strict"


def test_bucket_mode_in_task_scope(conns):
    conns(rate_limit_requests=5, rate_limit_mode="Bucket")
    rate = BulkFetchHook("api").build_uploader([], ListStore()).rate_limit
    assert isinstance(rate, Ratelimit) and rate.mode == "bucket"


@pytest.mark.parametrize("mode", ["strict", "bucket"])
def test_shared_scope_builds_a_redis_limiter_from_the_redis_connection(conns, mode):
    conns(
        redis_port=6390,
        rate_limit_requests=20,
        rate_limit_scope="shared",
        redis_conn_id="limits",
        rate_limit_mode=mode,
        timeout_seconds=7,
    )
    hook = BulkFetchHook("api")
    limiter = hook.build_uploader([], ListStore()).rate_limit
    assert isinstance(limiter, RedisLimiter)
    assert limiter.key == "api" and limiter.rate == Ratelimit(20, mode=mode)
    assert limiter.lease_seconds == pytest.approx(7 + 10)
    assert "connection 'api'" in limiter.name and "'limits'" in limiter.name
    assert REDIS_PASSWORD not in repr(limiter) + limiter.name + repr(hook.get_settings())


def test_shared_key_defaults_to_the_connection_id_and_can_be_named(conns):
    conns(redis_port=6390, rate_limit_requests=20, rate_limit_scope="shared", redis_conn_id="limits")
    assert BulkFetchHook("api").get_settings().rate_limit_key == "api"
    conns(
        redis_port=6390,
        rate_limit_requests=20,
        rate_limit_scope="shared",
        redis_conn_id="limits",
        rate_limit_key="vendor-x",
    )
    assert BulkFetchHook("api").build_uploader([], ListStore()).rate_limit.key == "vendor-x"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"rate_limit_scope": "global"}, "'rate_limit_scope' must be one of task, shared, got 'global'"),
        ({"rate_limit_mode": "leaky"}, "'rate_limit_mode' must be one of strict, bucket, got 'leaky'"),
        ({"rate_limit_scope": "shared", "redis_conn_id": "limits"}, "no 'rate_limit_requests' is set"),
        (
            {"rate_limit_scope": "shared", "rate_limit_requests": 5, "redis_conn_id": "nowhere"},
            "needs the redis connection 'nowhere'",
        ),
    ],
)
def test_bad_values_fail_at_load_naming_field_and_value(conns, extra, message):
    conns(redis_port=6390, **extra)
    with pytest.raises(BulkFetchConfigError, match=message.replace("(", r"\(")):
        BulkFetchHook("api").get_settings()


def test_redis_unreachable_at_start_fails_the_task_naming_connection_and_address(conns):
    port = free_port()
    conns(redis_port=port, rate_limit_requests=5, rate_limit_scope="shared", redis_conn_id="limits")
    with pytest.raises(RateLimitBackendError) as info:
        BulkFetchHook("api").fetch(["http://127.0.0.1:9/x"], ListStore())
    message = str(info.value)
    assert f"127.0.0.1:{port}/2" in message and "connection 'api'" in message
    assert REDIS_PASSWORD not in message


def test_start_line_logs_the_effective_concurrency(api, monkeypatch, capsys):
    monkeypatch.setenv(
        "AIRFLOW_CONN_BULK_FETCH_DEFAULT", conn_json(api.url, rate_limit_requests=3, max_concurrency=64)
    )
    op = BulkFetchOperator(
        task_id="fetch", endpoint="/records", query_params={"start": "{start}", "end": "{end}"}
    )
    op.execute(make_context(utc(2024, 1, 1), utc(2024, 1, 5)))
    [line] = [text for text in capsys.readouterr().out.splitlines() if "Bulk fetch: 4 requests" in text]
    # capped at the rate (3 per second), not the connection's max_concurrency of 64
    assert "rate limit 3/1s strict, concurrency 3" in line, line


def test_a_tasks_overrides_keep_the_shared_key_and_redis_connection(conns):
    """Regression (issue 18): overrides rebuilt the settings from the extras without the key and the redis
    connection resolved at load, so the start line read "shared via None key None"."""
    conns(redis_port=6390, rate_limit_requests=20, rate_limit_scope="shared", redis_conn_id="limits")
    hook = BulkFetchHook("api")
    overridden = hook.get_settings().with_overrides(max_concurrency=2)
    assert (overridden.rate_limit_key, overridden.redis_conn_id) == ("api", "limits")
    spec = hook.build_spec(overridden)
    assert spec.describe_rate_limit() == "20/1s strict, shared key 'api'"
    limiter = hook.build_uploader([], ListStore(), settings=overridden).rate_limit
    assert isinstance(limiter, RedisLimiter) and limiter.key == "api"
    assert "None" not in limiter.name and "'limits'" in limiter.name


# ---- burst and adaptation (issue 19) --------------------------------------------------------------------


def test_the_form_declares_burst_and_adaptation_with_how_to_read_a_gateway():
    fields = get_provider_info()["connection-types"][0]["conn-fields"]
    burst = fields["rate_limit_burst"]
    assert burst["schema"]["minimum"] == 1
    for text in ("nginx", "burst=B -> B", "capacity C", "-> C", "HAProxy"):
        assert text in burst["description"], text
    assert fields["rate_limit_adaptive"]["schema"]["default"] is True


def test_burst_and_adaptation_reach_the_engine_rate_limit(conns):
    conns(rate_limit_requests=20)
    rate = BulkFetchHook("api").build_uploader([], ListStore()).rate_limit
    assert rate == Ratelimit(20)  # the engine's defaults: paced, adaptive
    conns(rate_limit_requests=20, rate_limit_burst="5", rate_limit_adaptive="false")
    rate = BulkFetchHook("api").build_uploader([], ListStore()).rate_limit
    assert rate == Ratelimit(20, burst=5, adaptive=False)
    conns(rate_limit_requests=20, rate_limit_mode="bucket", rate_limit_burst=500)
    rate = BulkFetchHook("api").build_uploader([], ListStore()).rate_limit
    assert rate == Ratelimit(20, mode="bucket", burst=500)


def test_a_task_may_override_the_burst(conns):
    conns(rate_limit_requests=20, rate_limit_burst=5)
    hook = BulkFetchHook("api")
    settings = hook.get_settings().with_overrides(rate_limit_burst=1, rate_limit_adaptive=False)
    rate = hook.build_uploader([], ListStore(), settings=settings).rate_limit
    assert rate == Ratelimit(20, burst=1, adaptive=False)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"rate_limit_burst": 0}, "'rate_limit_burst' must be > 0, got 0"),
        ({"rate_limit_burst": "two"}, "'rate_limit_burst' must be a whole number, got 'two'"),
        ({"rate_limit_adaptive": "maybe"}, "'rate_limit_adaptive' must be true or false, got 'maybe'"),
    ],
)
def test_bad_burst_or_adaptation_extras_name_the_field_and_value(conns, extra, message):
    conns(rate_limit_requests=20, **extra)
    with pytest.raises(BulkFetchConfigError, match=message):
        BulkFetchHook("api").get_settings()


def test_a_strict_burst_above_the_requests_per_period_names_the_connection(conns):
    conns(rate_limit_requests=20, rate_limit_burst=50)
    with pytest.raises(
        BulkFetchConfigError, match=r"connection 'api': Ratelimit burst must be <= num_requests"
    ):
        BulkFetchHook("api").build_uploader([], ListStore())
