"""Bad input answers 4xx with a message, never 5xx; filters are bound parameters."""

from __future__ import annotations

import base64

import pytest
from api_corpus import Corpus

BAD_REQUESTS = [
    # (path, params, status, words the message must contain)
    ("/api/v1/traces", {"limit": 0}, 422, "limit"),
    ("/api/v1/traces", {"limit": 1001}, 422, "limit"),
    ("/api/v1/traces", {"limit": 10**30}, 422, "limit"),
    ("/api/v1/traces", {"limit": "many"}, 422, "limit"),
    ("/api/v1/traces", {"order": "sideways"}, 422, "order"),
    ("/api/v1/traces", {"level": "FATAL"}, 422, "level"),
    ("/api/v1/traces", {"from": "yesterday"}, 422, "from"),
    ("/api/v1/traces", {"to": "2026-13-45T99:00:00Z"}, 422, "to"),
    (
        "/api/v1/traces",
        {"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"},
        422,
        "from",
    ),
    ("/api/v1/traces", {"session_id": ""}, 422, "session_id"),
    ("/api/v1/traces", {"session_id": "x" * 501}, 422, "session_id"),
    ("/api/v1/traces", {"q": "a\x00b"}, 422, "NUL"),
    ("/api/v1/traces", {"tag": ["t"] * 21}, 422, "tag"),
    ("/api/v1/traces", {"session_identifier": "s-1"}, 400, "session_identifier"),
    ("/api/v1/traces", {"limit": 5, "bogus": "1", "foo": "2"}, 400, "bogus, foo"),
    ("/api/v1/traces", {"cursor": "not base64 !"}, 400, "cursor"),
    ("/api/v1/traces", {"cursor": "AAAA"}, 400, "cursor"),
    ("/api/v1/traces", {"cursor": "x" * 2000}, 400, "cursor"),
    ("/api/v1/observations", {"trace_id": "xyz"}, 422, "trace_id"),
    ("/api/v1/observations", {"type": "LLM"}, 422, "type"),
    ("/api/v1/observations", {"model": "m", "unknown": "1"}, 400, "unknown"),
    ("/api/v1/observations", {"from": "2026-02-01T00:00:00Z", "to": "2026-01-01"}, 422, "from"),
    ("/api/v1/sessions", {"limit": -1}, 422, "limit"),
    ("/api/v1/sessions", {"order": "asc"}, 400, "order"),
    ("/api/v1/traces/not-a-trace-id", {}, 422, "trace_id"),
    ("/api/v1/traces/" + "a" * 31, {}, 422, "trace_id"),
    ("/api/v1/traces/" + "g" * 32, {}, 422, "trace_id"),
    ("/api/v1/traces/" + "a" * 33, {}, 422, "trace_id"),
    ("/api/v1/observations/" + "z" * 16, {}, 422, "observation_id"),
    ("/api/v1/observations/" + "a" * 16, {"trace_id": "nope"}, 422, "trace_id"),
    ("/api/v1/sessions/" + "s" * 501, {}, 422, "session_id"),
    ("/api/v1/sessions/a%00b", {}, 422, "NUL"),
]


@pytest.mark.parametrize(("path", "params", "status", "words"), BAD_REQUESTS)
def test_bad_input_is_a_clear_4xx(client, path, params, status, words):
    response = client.get(path, params=params)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["code"]
    assert words in error["message"], error["message"]


def cursor_of(*items: str) -> str:
    import orjson

    return base64.urlsafe_b64encode(orjson.dumps(list(items))).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        cursor_of("sessions", "desc", "2026-01-01T00:00:00+00:00", "s"),  # another list's
        cursor_of("traces", "asc", "2026-01-01T00:00:00+00:00", "a" * 32),  # other order
        cursor_of("traces", "desc", "not a time", "a" * 32),
        cursor_of("traces", "desc", "2026-01-01T00:00:00", "a" * 32),  # no offset
        cursor_of("traces", "desc", "2026-01-01T00:00:00+00:00"),  # no id
        base64.urlsafe_b64encode(b'{"a": 1}').decode().rstrip("="),
        base64.urlsafe_b64encode(b"\xff\xfe").decode().rstrip("="),
    ],
)
def test_foreign_or_forged_cursor_is_400(client, cursor):
    response = client.get("/api/v1/traces", params={"cursor": cursor})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_cursor"


def test_cursor_of_one_order_is_refused_by_the_other(client, corpus: Corpus):
    cursor = client.get("/api/v1/traces", params={"limit": 2}).json()["next_cursor"]
    assert client.get("/api/v1/traces", params={"cursor": cursor}).status_code == 200
    response = client.get("/api/v1/traces", params={"cursor": cursor, "order": "asc"})
    assert response.status_code == 400
    assert "order" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    "value",
    [
        "' OR '1'='1",
        "s-1'; DROP TABLE traces; --",
        "%",
        "_",
        "\\",
        "s-1\\",
        "ü—😀",
        "a" * 500,
    ],
)
def test_hostile_filter_values_are_just_values(client, corpus: Corpus, value):
    for params in ({"session_id": value}, {"user_id": value}, {"q": value}, {"tag": value}):
        response = client.get("/api/v1/traces", params={**params, "limit": 1000})
        assert response.status_code == 200, response.text
        # only a literal substring of a name matches ("_" is in "agent_graph"; "%" is not)
        literal = "q" in params and any(value in t.name for t in corpus.of("proj-a"))
        assert len(response.json()["data"]) == (len(corpus.of("proj-a")) if literal else 0)
    assert client.get(f"/api/v1/sessions/{value}").status_code in (404, 422)
    # the tables are still there and intact
    assert len(client.get("/api/v1/traces", params={"limit": 1000}).json()["data"]) == len(
        corpus.of("proj-a")
    )


def test_unknown_route_and_method_are_json_errors(client):
    missing = client.get("/api/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"
    wrong = client.post("/api/v1/traces")
    assert wrong.status_code == 405
    assert wrong.json()["error"]["code"] == "method_not_allowed"


def test_openapi_documents_parameters_and_errors(client):
    spec = client.get("/openapi.json").json()
    traces = spec["paths"]["/api/v1/traces"]["get"]
    names = {p["name"] for p in traces["parameters"]}
    assert {"session_id", "user_id", "name", "level", "tag", "from", "to", "q"} <= names
    assert {"order", "limit", "cursor"} <= names
    limit = next(p for p in traces["parameters"] if p["name"] == "limit")
    assert limit["schema"]["maximum"] == 1000
    assert limit["description"]
    assert {"200", "400", "401", "422"} <= set(traces["responses"])
    detail = spec["paths"]["/api/v1/traces/{trace_id}"]["get"]
    assert "404" in detail["responses"]
    assert spec["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"
    assert "TraceDetail" in spec["components"]["schemas"]
