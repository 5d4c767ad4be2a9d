"""Fixtures of the Studio API tests: a PostgreSQL filled by the real collector from real spans.

Spans are made with the OpenTelemetry SDK, encoded with the wire format's encoders
(``encode_span_start`` in ``on_start``, ``encode_span_end`` in ``on_end``) and XADDed to a Redis
stream; the collector's ``Consumer`` reads the stream into PostgreSQL. The API under test then
reads what the collector wrote: nothing in these tables is inserted by hand.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import psycopg
import pytest
import redis
from api_corpus import Corpus, build_corpus
from api_support import Ingestor, WireSpanProcessor, serve
from fastapi.testclient import TestClient
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from servers import wait_for
from swisper_studio.collector.api.app import create_app
from swisper_studio.collector.migrate import migrate
from swisper_studio.collector.projects import create_project
from swisper_studio.collector.settings import Settings


def make_tracer(client: redis.Redis, stream: str, project_id: str, service: str = "agent-app"):
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(WireSpanProcessor(client, stream, project_id))
    return provider.get_tracer("tests.studio-api")


@dataclass
class Studio:
    """A migrated database, two projects with keys, a stream and a collector for them."""

    settings: Settings
    redis: redis.Redis
    ingestor: Ingestor
    keys: dict[str, str] = field(default_factory=dict)

    def tracer(self, project_id: str):
        return make_tracer(self.redis, self.settings.stream_name, project_id)

    def ingest(self) -> None:
        """Wait until the collector has stored everything published so far."""
        self.ingestor.drain()

    def headers(self, project_id: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[project_id]}"}


def _new_database(admin_url: str) -> str:
    name = f"api_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(name)))
    return f"{admin_url.rpartition('/')[0]}/{name}"


def _drop_database(admin_url: str, url: str) -> None:
    name = url.rpartition("/")[2]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(
            psycopg.sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                psycopg.sql.Identifier(name)
            )
        )


@pytest.fixture(scope="module")
def module_database_url(postgres_admin_url: str) -> Iterator[str]:
    """A database shared by one test module (read-only tests share one filled corpus)."""
    url = _new_database(postgres_admin_url)
    try:
        yield url
    finally:
        _drop_database(postgres_admin_url, url)


def _studio(database_url: str, redis_server_url: str, **overrides) -> Iterator[Studio]:
    stream = f"test:{uuid.uuid4().hex[:12]}:events"
    settings = Settings(
        database_url=database_url,
        redis_url=redis_server_url,
        stream_name=stream,
        group_name=f"g-{uuid.uuid4().hex[:8]}",
        block_ms=100,
        **overrides,
    )
    migrate(database_url)
    keys = {}
    with psycopg.connect(database_url, autocommit=True) as conn:
        for project_id in ("proj-a", "proj-b"):
            keys[project_id] = create_project(conn, f"Project {project_id}", project_id)[1]
    client = redis.Redis.from_url(redis_server_url)
    ingestor = Ingestor(settings)
    try:
        yield Studio(settings=settings, redis=client, ingestor=ingestor, keys=keys)
    finally:
        ingestor.close()
        client.delete(stream)
        client.close()


@pytest.fixture(scope="module")
def studio(module_database_url: str, redis_server_url: str) -> Iterator[Studio]:
    yield from _studio(module_database_url, redis_server_url)


@pytest.fixture(scope="module")
def corpus(studio: Studio) -> Corpus:
    """The shared data set of a module: agent traces in two projects, made and ingested once."""
    built = build_corpus(studio.tracer("proj-a"), studio.tracer("proj-b"))
    studio.ingest()
    return built


@pytest.fixture(scope="module")
def client(studio: Studio, corpus: Corpus) -> Iterator[TestClient]:
    app = create_app(studio.settings)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        test_client.headers.update(studio.headers("proj-a"))
        yield test_client


@pytest.fixture(scope="module")
def live_server(studio: Studio, corpus: Corpus) -> Iterator[str]:
    """The app served by uvicorn on a free loopback port (for browsers and HTTP fuzzing)."""
    yield from serve(create_app(studio.settings))


@pytest.fixture
def fresh_studio(database_url: str, redis_url: str) -> Iterator[Studio]:
    """A studio of one's own (empty database), for tests that add data as they go."""
    yield from _studio(database_url, redis_url)


def wait_rows(database_url: str, query: str, params: tuple, expected: int) -> None:
    def count() -> bool:
        with psycopg.connect(database_url) as conn:
            return conn.execute(query, params).fetchone()[0] == expected

    wait_for(count, timeout=20, what=f"{expected} rows for {query}")
