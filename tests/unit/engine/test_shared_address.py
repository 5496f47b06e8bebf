"""``redis_address``: the one place a Redis server is named in messages — a client, a URL or the hook's
connection keywords give the same ``host:port/db``, a unix socket ``unix:<path>``, never the password."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from airflow_provider_bulk_uploader import Ratelimit
from airflow_provider_bulk_uploader.engine.shared.address import redis_address as same_function
from airflow_provider_bulk_uploader.engine.shared_ratelimit import RedisLimiter, redis_address

PASSWORD = "s3cret-redis-pw"


def test_the_public_path_exports_the_one_function():
    assert redis_address is same_function


@pytest.mark.parametrize(
    "target",
    [
        f"redis://:{PASSWORD}@10.0.0.5:6380/3",
        f"redis://user:{PASSWORD}@10.0.0.5:6380/3",
        {"host": "10.0.0.5", "port": 6380, "db": 3, "password": PASSWORD, "username": "user"},
        Redis(host="10.0.0.5", port=6380, db=3, password=PASSWORD),
    ],
    ids=["url", "url-with-user", "connection-keywords", "client"],
)
def test_client_url_and_keywords_name_the_same_address_without_the_password(target):
    assert redis_address(target) == "10.0.0.5:6380/3"


def test_defaults_and_unix_sockets():
    assert redis_address("redis://") == "localhost:6379/0"
    assert redis_address({"host": None, "port": None, "db": None}) == "localhost:6379/0"
    assert redis_address(f"unix://:{PASSWORD}@/run/redis.sock?db=2") == "unix:/run/redis.sock"
    assert redis_address(Redis(unix_socket_path="/run/redis.sock")) == "unix:/run/redis.sock"


def test_a_limiter_names_its_server_the_same_way_before_and_without_connecting():
    url = f"redis://:{PASSWORD}@10.0.0.5:6380/3"
    limiter = RedisLimiter(Ratelimit(5), url, "k")
    assert limiter.address == "10.0.0.5:6380/3"
    assert PASSWORD not in repr(limiter)

    def connect() -> Redis:
        raise AssertionError("not called before the first acquire")

    connect.address = "10.0.0.5:6380/3"  # type: ignore[attr-defined]
    assert RedisLimiter(Ratelimit(5), connect, "k").address == "10.0.0.5:6380/3"
