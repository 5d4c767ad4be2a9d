"""API keys and project isolation: a key sees its project only; others' data is a 404."""

from __future__ import annotations

import psycopg
import pytest
from api_corpus import Corpus
from fastapi.testclient import TestClient
from swisper_studio.collector.api.app import UnsafeDevModeError, create_app
from swisper_studio.collector.projects import hash_key

PROTECTED = [
    "/api/v1/traces",
    "/api/v1/traces/" + "a" * 32,
    "/api/v1/observations",
    "/api/v1/observations/" + "b" * 16,
    "/api/v1/sessions",
    "/api/v1/sessions/s-1",
    "/api/v1/projects/connection-status",
    "/api/v1/observability/metrics",
]


@pytest.fixture
def anonymous(client: TestClient):
    """The module's app, without the default key."""
    saved = client.headers.pop("Authorization")
    try:
        yield client
    finally:
        client.headers["Authorization"] = saved


@pytest.mark.parametrize("path", PROTECTED)
@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer sk-ss-wrong", "Bearer ", "Basic dXNlcjpwdw==", "sk-ss-no-scheme"],
)
def test_missing_or_wrong_key_is_401(anonymous, path, authorization):
    headers = {"Authorization": authorization} if authorization else {}
    response = anonymous.get(path, headers=headers)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"]["code"] == "unauthorized"
    assert response.json()["error"]["message"]


def test_unauthenticated_bad_input_is_still_401(anonymous):
    """No key, no hints: auth is checked before parameters."""
    response = anonymous.get("/api/v1/traces", params={"limit": 0, "bogus": 1})
    assert response.status_code == 401


def test_revoked_key_is_401(client, studio):
    with psycopg.connect(studio.settings.database_url, autocommit=True) as conn:
        from swisper_studio.collector.projects import create_api_key

        key = create_api_key(conn, "proj-a", name="to revoke")
        assert client.get("/api/v1/traces", headers={"Authorization": f"Bearer {key}"}).is_success
        conn.execute("UPDATE api_keys SET revoked_at = now() WHERE key_hash = %s", (hash_key(key),))
    response = client.get("/api/v1/traces", headers={"Authorization": f"Bearer {key}"})
    assert response.status_code == 401


def test_open_endpoints_need_no_key(anonymous):
    assert anonymous.get("/health").json() == {"status": "ok"}
    assert anonymous.get("/api/config").json()["auth_required"] is True
    assert anonymous.get("/openapi.json").status_code == 200
    page = anonymous.get("/")
    assert page.status_code == 200
    assert "SwisperStudio" in page.text
    assert anonymous.get("/static/app.js").status_code == 200
    assert "SwisperStudio" in anonymous.get("/ui/").text


def test_other_projects_trace_is_404_like_a_missing_one(client, studio, corpus: Corpus):
    b_headers = studio.headers("proj-b")
    a_trace = corpus.of("proj-a")[0].id
    foreign = client.get(f"/api/v1/traces/{a_trace}", headers=b_headers)
    missing = client.get("/api/v1/traces/" + "c" * 32, headers=b_headers)
    assert foreign.status_code == missing.status_code == 404
    assert foreign.json()["error"]["code"] == missing.json()["error"]["code"]
    own = client.get(f"/api/v1/traces/{corpus.of('proj-b')[0].id}", headers=b_headers)
    assert own.status_code == 200

    a_obs = client.get(f"/api/v1/traces/{a_trace}").json()["observations"][0]["id"]
    assert client.get(f"/api/v1/observations/{a_obs}", headers=b_headers).status_code == 404
    assert client.get(f"/api/v1/observations/{a_obs}").status_code == 200


def test_lists_show_only_own_project(client, studio, corpus: Corpus):
    b_headers = studio.headers("proj-b")
    b_ids = {t.id for t in corpus.of("proj-b")}
    traces = client.get("/api/v1/traces", params={"limit": 1000}, headers=b_headers).json()
    assert {t["id"] for t in traces["data"]} == b_ids
    # even when filtering on values project A uses
    for params in ({"user_id": "alice"}, {"session_id": "s-2"}, {"q": "search"}):
        response = client.get("/api/v1/traces", params=params, headers=b_headers)
        assert response.json()["data"] == []
    observations = client.get(
        "/api/v1/observations", params={"limit": 1000}, headers=b_headers
    ).json()["data"]
    assert {o["trace_id"] for o in observations} == b_ids
    a_trace = corpus.of("proj-a")[0].id
    by_trace = client.get(
        "/api/v1/observations", params={"trace_id": a_trace}, headers=b_headers
    ).json()
    assert by_trace["data"] == []

    sessions = client.get("/api/v1/sessions", headers=b_headers).json()["data"]
    assert [(s["session_id"], s["trace_count"], s["user_ids"]) for s in sessions] == [
        ("s-1", 3, ["eve"])
    ]
    detail = client.get("/api/v1/sessions/s-1", headers=b_headers).json()
    assert {t["id"] for t in detail["traces"]} == b_ids
    assert client.get("/api/v1/sessions/s-2", headers=b_headers).status_code == 404
    metrics = client.get("/api/v1/observability/metrics", headers=b_headers).json()
    assert metrics["project_id"] == "proj-b"
    assert metrics["traces_total"] == len(b_ids)


def test_dev_mode_serves_without_keys_on_loopback(studio, corpus: Corpus):
    settings = studio.settings.model_copy(update={"auth_disabled": True, "api_host": "127.0.0.1"})
    with TestClient(create_app(settings)) as dev:
        assert dev.get("/api/config").json() == {
            "auth_required": False,
            "dev_mode": True,
            "version": dev.get("/api/config").json()["version"],
            "live_poll_ms": 1000,
        }
        # two projects and none called "default": X-Project-Id picks one
        chosen = dev.get("/api/v1/traces", headers={"X-Project-Id": "proj-b"})
        assert chosen.status_code == 200
        assert {t["id"] for t in chosen.json()["data"]} == {t.id for t in corpus.of("proj-b")}
        # without the header: the "default" project, which has no traces here
        assert dev.get("/api/v1/traces").json()["data"] == []
        assert dev.get("/api/v1/traces", headers={"X-Project-Id": "bad id!"}).status_code == 400


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "example.com"])
def test_dev_mode_refuses_non_loopback_binds(studio, host):
    settings = studio.settings.model_copy(update={"auth_disabled": True, "api_host": host})
    with pytest.raises(UnsafeDevModeError, match="loopback"):
        create_app(settings)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_dev_mode_accepts_loopback_binds(studio, host):
    settings = studio.settings.model_copy(update={"auth_disabled": True, "api_host": host})
    assert create_app(settings) is not None


def test_app_answers_even_without_its_lifespan(studio, corpus: Corpus):
    """A TestClient used without ``with`` skips start-up: requests still work."""
    bare = TestClient(create_app(studio.settings))
    response = bare.get("/api/v1/traces", headers=studio.headers("proj-b"))
    assert response.status_code == 200
    assert {t["id"] for t in response.json()["data"]} == {t.id for t in corpus.of("proj-b")}
    assert bare.get("/ready").status_code == 200
    status = bare.get("/api/v1/projects/connection-status", headers=studio.headers("proj-b"))
    assert status.json()["redis_reachable"] is True
