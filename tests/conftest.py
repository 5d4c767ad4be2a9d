"""Shared fixtures: one real Redis and one real PostgreSQL per test session.

`.ci/run` starts both servers and passes their URLs in ``SWISPER_TEST_REDIS_URL`` and
``SWISPER_TEST_DATABASE_URL`` (an admin URL; each test gets its own database). Without those
variables the session starts its own throwaway servers (see tests/servers.py), so the README's
test command also works on a developer's machine with redis-server and PostgreSQL installed.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from servers import PostgresServer, RedisServer


@pytest.fixture(scope="session")
def redis_server_url() -> Iterator[str]:
    url = os.environ.get("SWISPER_TEST_REDIS_URL")
    if url:
        yield url
        return
    server = RedisServer().start()
    try:
        yield server.url
    finally:
        server.close()


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    url = os.environ.get("SWISPER_TEST_DATABASE_URL")
    if url:
        yield url
        return
    server = PostgresServer().start()
    try:
        yield server.url()
    finally:
        server.close()


@pytest.fixture
def redis_url(redis_server_url: str) -> Iterator[str]:
    """The session's Redis, emptied before each test."""
    import redis

    client = redis.Redis.from_url(redis_server_url)
    client.flushall()
    client.close()
    yield redis_server_url


@pytest.fixture
def stream_name() -> str:
    """A stream key unique to the test, so leftovers can never leak between tests."""
    return f"test:{uuid.uuid4().hex[:12]}:events"


@pytest.fixture
def database_url(postgres_admin_url: str) -> Iterator[str]:
    """A new, empty database on the session's PostgreSQL, dropped after the test."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = postgres_admin_url.rpartition("/")
    yield f"{base}/{name}"
    with psycopg.connect(postgres_admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A Redis server owned by one test, for stopping and restarting it."""
    server = RedisServer().start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL cluster owned by one test, for stopping and restarting it."""
    server = PostgresServer().start()
    try:
        yield server
    finally:
        server.close()
