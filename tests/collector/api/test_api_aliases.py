"""Alternative parameter names give the same answers as the canonical ones; the rest is 400."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from api_corpus import MS, Corpus
from fastapi.testclient import TestClient
from opentelemetry import trace as otel
from swisper_studio.collector.api.aliases import QUERY_ALIASES
from swisper_studio.collector.api.app import create_app


def iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).isoformat()


def ids(client, path: str, params) -> list[str]:
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return [row.get("id") or row.get("session_id") for row in response.json()["data"]]


def window(corpus: Corpus) -> tuple[str, str]:
    return iso(corpus.base_ns + 50_000 * MS), iso(corpus.base_ns + 120_000 * MS)


TRACE_CASES = [
    # (canonical params, equivalent spellings)
    ({"q": "search"}, [{"search": "search"}, {"query": "search"}, {"name_contains": "search"}]),
    ({"tag": "prod"}, [{"tags": "prod"}]),
    (
        {"tag": ["beta", "canary"]},
        [{"tags": "beta,canary"}, {"tag": "beta,canary"}, {"tags": ["beta", "canary"]}],
    ),
    ({"session_id": "s-1"}, [{"sessionId": "s-1"}, {"session": "s-1"}]),
    ({"user_id": "alice"}, [{"userId": "alice"}, {"user": "alice"}]),
    ({"level": "ERROR"}, [{"level": "error"}, {"level": "Error"}]),
    (
        {"order": "asc"},
        [
            {"sort": "asc"},
            {"order_by": "timestamp.asc"},
            {"orderBy": "start_time"},
            {"order": "start_time.asc"},
            {"order": "TIMESTAMP.ASC"},
        ],
    ),
    (
        {"order": "desc"},
        [{"sort": "-start_time"}, {"order": "timestamp.desc"}, {"sort": "start_time:desc"}],
    ),
]


@pytest.mark.parametrize(("canonical", "spellings"), TRACE_CASES)
def test_trace_filter_aliases_match_the_canonical_name(
    client, corpus: Corpus, canonical, spellings
):
    expected = ids(client, "/api/v1/traces", {"limit": 1000, **canonical})
    everything = ids(client, "/api/v1/traces", {"limit": 1000})
    assert expected, "the canonical filter selects something"
    if "order" not in canonical:
        assert len(expected) < len(everything), "the canonical filter filters"
    for params in spellings:
        assert ids(client, "/api/v1/traces", {"limit": 1000, **params}) == expected, params


@pytest.mark.parametrize("alias", QUERY_ALIASES["from"])
def test_time_aliases_on_traces_and_observations(client, corpus: Corpus, alias):
    start, end = window(corpus)
    to_alias = QUERY_ALIASES["to"][QUERY_ALIASES["from"].index(alias)]
    for path in ("/api/v1/traces", "/api/v1/observations"):
        expected = ids(client, path, {"limit": 1000, "from": start, "to": end})
        assert expected
        assert ids(client, path, {"limit": 1000, alias: start, to_alias: end}) == expected
        assert ids(client, path, {"limit": 1000, alias: start, "to": end}) == expected


def test_unencoded_plus_of_an_offset_is_understood(client, corpus: Corpus):
    start, end = window(corpus)  # "...+00:00"
    expected = ids(client, "/api/v1/traces", {"from": start, "to": end})
    assert expected
    raw = f"/api/v1/traces?from={start}&to={end}"  # "+" not escaped: it arrives as a space
    response = client.get(raw)
    assert response.status_code == 200, response.text
    assert [row["id"] for row in response.json()["data"]] == expected


def test_limit_aliases(client, corpus: Corpus):
    expected = ids(client, "/api/v1/traces", {"limit": 3})
    assert len(expected) == 3
    for alias in QUERY_ALIASES["limit"]:
        assert ids(client, "/api/v1/traces", {alias: 3}) == expected


def test_observation_filter_aliases(client, corpus: Corpus):
    trace_id = corpus.of("proj-a")[0].id
    expected = ids(client, "/api/v1/observations", {"trace_id": trace_id, "limit": 1000})
    assert len(expected) == 8
    for alias in QUERY_ALIASES["trace_id"]:
        assert ids(client, "/api/v1/observations", {alias: trace_id, "limit": 1000}) == expected
    filtered = {"trace": trace_id, "type": "GENERATION", "model": "fake-gpt", "level": "DEFAULT"}
    assert len(ids(client, "/api/v1/observations", filtered)) == 2
    lower = {**filtered, "type": "generation", "level": "default"}
    assert ids(client, "/api/v1/observations", lower) == ids(
        client, "/api/v1/observations", filtered
    )
    span_id = expected[0]
    one = client.get(f"/api/v1/observations/{span_id}", params={"traceId": trace_id})
    assert one.status_code == 200, one.text
    assert one.json()["trace_id"] == trace_id


def test_session_list_aliases(client, corpus: Corpus):
    expected = ids(client, "/api/v1/sessions", {"user_id": "alice"})
    assert expected
    assert ids(client, "/api/v1/sessions", {"userId": "alice"}) == expected


@pytest.mark.parametrize(
    ("path", "params", "words"),
    [
        ("/api/v1/traces", {"bogus": "1"}, ["bogus", "q (or search", "from (or from_time"]),
        ("/api/v1/traces", {"trace": "a" * 32}, ["trace", "session_id (or sessionId"]),
        ("/api/v1/sessions", {"sort": "asc"}, ["sort", "user_id (or userId"]),
        ("/api/v1/observations", {"tags": "prod"}, ["tags", "trace_id (or traceId"]),
    ],
)
def test_unknown_names_stay_400_and_list_the_accepted_ones(client, path, params, words):
    response = client.get(path, params=params)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "unknown_parameter"
    for word in words:
        assert word in error["message"], error["message"]


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2026-01-01T00:00:00Z", "from_timestamp": "2026-01-02T00:00:00Z"},
        {"session_id": "s-1", "sessionId": "s-2"},
        {"q": "agent", "search": "search"},
        {"order": "asc", "sort": "desc"},
        {"limit": 3, "page_size": 4},
    ],
)
def test_one_parameter_under_two_names_with_different_values_is_400(client, params):
    response = client.get("/api/v1/traces", params=params)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "conflicting_parameters"
    for name in params:
        assert name in error["message"], error["message"]


def test_same_value_under_two_names_is_fine(client, corpus: Corpus):
    expected = ids(client, "/api/v1/traces", {"session_id": "s-1", "order": "asc"})
    both = {"session_id": "s-1", "sessionId": "s-1", "order": "asc", "sort": "timestamp.asc"}
    assert ids(client, "/api/v1/traces", both) == expected


def test_conflicts_and_aliases_still_need_a_key(client):
    params = {"session_id": "s-1", "sessionId": "s-2"}
    response = client.get("/api/v1/traces", params=params, headers={"Authorization": ""})
    assert response.status_code == 401


def test_openapi_documents_the_aliases(client):
    spec = client.get("/openapi.json").json()
    params = {p["name"]: p for p in spec["paths"]["/api/v1/traces"]["get"]["parameters"]}
    assert "`from_timestamp`" in params["from"]["description"]
    assert "`search`" in params["q"]["description"]
    assert "timestamp.asc" in params["order"]["description"]
    assert "sessionId" not in params  # aliases are not separate parameters


def test_trace_without_llm_calls_has_zero_tokens_and_latency(fresh_studio):
    tracer = fresh_studio.tracer("proj-a")
    start = (datetime.now(timezone.utc).timestamp() // 1 - 60) * 1_000_000_000
    start = int(start)
    root = tracer.start_span("plain_graph", start_time=start)
    child = tracer.start_span("step", context=otel.set_span_in_context(root), start_time=start + MS)
    child.end(end_time=start + 10 * MS)
    root.end(end_time=start + 250 * MS)
    running = tracer.start_span("still_running", start_time=start + 300 * MS)
    fresh_studio.ingest()
    with TestClient(create_app(fresh_studio.settings)) as client:
        client.headers.update(fresh_studio.headers("proj-a"))
        rows = {row["name"]: row for row in client.get("/api/v1/traces").json()["data"]}
        plain = rows["plain_graph"]
        assert (plain["input_tokens"], plain["output_tokens"], plain["total_tokens"]) == (0, 0, 0)
        assert plain["latency"] == pytest.approx(0.25)
        assert plain["duration_ms"] == pytest.approx(250.0)
        assert rows["still_running"]["latency"] is None
        assert rows["still_running"]["total_tokens"] == 0
        detail = client.get(f"/api/v1/traces/{plain['id']}").json()
        assert (detail["total_tokens"], detail["latency"]) == (0, pytest.approx(0.25))
        assert all(o["total_tokens"] is None for o in detail["observations"])
        live = client.get(f"/api/v1/traces/{rows['still_running']['id']}").json()
        assert live["running"] is True
        assert live["observations"][0]["running"] is True
        assert live["observations"][0]["end_time"] is None
        assert live["tree"][0]["running"] is True
    running.end()
