"""Liveness, readiness and pipeline status, with Redis or PostgreSQL really down."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from servers import free_port, wait_for
from swisper_studio.collector.api.app import create_app
from swisper_studio.collector.migrate import migrate
from swisper_studio.collector.projects import create_project


def test_ready_and_status_when_all_is_up(fresh_studio):
    with TestClient(create_app(fresh_studio.settings)) as client:
        assert client.get("/health").json() == {"status": "ok"}
        ready = client.get("/ready")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ready", "database": True, "redis": True, "errors": []}
        headers = fresh_studio.headers("proj-a")
        # the collector of the fixture heartbeats: the pipeline is healthy
        status = wait_for(
            lambda: (
                (body := client.get("/api/v1/projects/connection-status", headers=headers).json())[
                    "consumer_alive"
                ]
                and body
            ),
            what="a live consumer",
        )
        assert status["status"] == "healthy"
        assert status["redis_reachable"] is True
        assert status["heartbeat_age_seconds"] is not None
        assert status["stream_length"] is not None
        assert status["pending_events"] == 0
        assert status["dead_lettered"] == 0


def test_status_without_a_collector_is_down(database_url, redis_url):
    migrate(database_url)
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as conn:
        _, key = create_project(conn, "p", "p")
    from swisper_studio.collector.settings import Settings

    settings = Settings(database_url=database_url, redis_url=redis_url, stream_name="idle:stream")
    with TestClient(create_app(settings)) as client:
        body = client.get(
            "/api/v1/projects/connection-status", headers={"Authorization": f"Bearer {key}"}
        ).json()
        assert body["status"] == "down"
        assert body["consumer_alive"] is False
        assert body["warnings"]


def test_redis_down_gives_503_ready_and_down_status(fresh_studio):
    settings = fresh_studio.settings.model_copy(
        update={"redis_url": f"redis://127.0.0.1:{free_port()}/0"}
    )
    with TestClient(create_app(settings)) as client:
        ready = client.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["redis"] is False and ready.json()["database"] is True
        status = client.get(
            "/api/v1/projects/connection-status", headers=fresh_studio.headers("proj-a")
        )
        assert status.status_code == 200
        assert status.json()["status"] == "down"
        assert status.json()["redis_reachable"] is False
        # data still browsable without Redis
        traces = client.get("/api/v1/traces", headers=fresh_studio.headers("proj-a"))
        assert traces.status_code == 200


@pytest.mark.slow
def test_postgres_down_gives_503_not_500_and_recovers(own_postgres, redis_url):
    url = own_postgres.url()
    migrate(url)
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        _, key = create_project(conn, "p", "p")
    from swisper_studio.collector.settings import Settings

    headers = {"Authorization": f"Bearer {key}"}
    with TestClient(create_app(Settings(database_url=url, redis_url=redis_url))) as client:
        assert client.get("/api/v1/traces", headers=headers).status_code == 200
        own_postgres.stop()
        down = client.get("/api/v1/traces", headers=headers)
        assert down.status_code == 503
        assert down.json()["error"]["code"] == "database_unavailable"
        ready = client.get("/ready")
        assert ready.status_code == 503 and ready.json()["database"] is False
        assert client.get("/health").status_code == 200
        own_postgres.start()
        wait_for(
            lambda: client.get("/api/v1/traces", headers=headers).status_code == 200,
            timeout=30,
            what="the API to reconnect",
        )
        assert client.get("/ready").status_code == 200
