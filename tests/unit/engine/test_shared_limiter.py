"""``RedisLimiter`` arguments: bad values fail at construction naming the argument and the value (never a
password); the Redis timeouts default to ``engine/defaults.py``. Behaviour against a real Redis is in
``tests/integration/test_shared_ratelimit*.py``."""

from __future__ import annotations

import pytest

from airflow_provider_bulk_uploader import Ratelimit
from airflow_provider_bulk_uploader.engine import defaults
from airflow_provider_bulk_uploader.engine.shared_ratelimit import RedisLimiter

URL = "redis://:pw-not-in-errors@127.0.0.1:6390/1"


def test_the_redis_timeouts_default_to_the_engine_defaults():
    limiter = RedisLimiter(Ratelimit(5), URL, "k")
    assert limiter.socket_timeout == defaults.SHARED_REDIS_SOCKET_TIMEOUT_SECONDS == 5.0
    assert limiter.connect_timeout == defaults.SHARED_REDIS_CONNECT_TIMEOUT_SECONDS == 5.0
    assert RedisLimiter(Ratelimit(5), URL, "k", socket_timeout=0.5).socket_timeout == 0.5


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"socket_timeout": 0}, "socket_timeout must be a number of seconds > 0, got 0"),
        ({"socket_timeout": "5"}, "socket_timeout must be a number of seconds > 0, got '5'"),
        ({"connect_timeout": -1.0}, "connect_timeout must be a number of seconds > 0, got -1.0"),
        ({"connect_timeout": True}, "connect_timeout must be a number of seconds > 0, got True"),
        ({"retry_seconds": -1}, "retry_seconds and lease_margin >= 0"),
    ],
)
def test_bad_arguments_fail_at_construction_naming_them(kwargs, message):
    with pytest.raises(ValueError, match=message) as info:
        RedisLimiter(Ratelimit(5), URL, "k", **kwargs)
    assert "pw-not-in-errors" not in str(info.value)
