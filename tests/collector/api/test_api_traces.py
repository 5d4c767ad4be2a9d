"""Trace list, filters, pagination and the trace view, over data the collector stored."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from api_corpus import AGENT_DEPTHS, AGENT_NAMES_IN_ORDER, AGENT_TOKENS, MS, Corpus


def iso(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).isoformat()


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def list_ids(client, **params) -> list[str]:
    response = client.get("/api/v1/traces", params={"limit": 1000, **params})
    assert response.status_code == 200, response.text
    return [row["id"] for row in response.json()["data"]]


def walk(client, path: str, limit: int, **params) -> list[dict]:
    rows, cursor = [], None
    while True:
        query = {"limit": limit, **params, **({"cursor": cursor} if cursor else {})}
        response = client.get(path, params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["data"]) <= limit
        rows.extend(page["data"])
        cursor = page["next_cursor"]
        if cursor is None:
            return rows


def test_list_is_newest_first_with_aggregates(client, corpus: Corpus):
    response = client.get("/api/v1/traces", params={"limit": 3})
    assert response.status_code == 200
    page = response.json()
    expected = [t.id for t in corpus.newest_first("proj-a")]
    assert [row["id"] for row in page["data"]] == expected[:3]
    assert page["next_cursor"]
    finished = next(
        row for row in walk(client, "/api/v1/traces", 50) if row["id"] == corpus.of("proj-a")[3].id
    )
    assert finished["observation_count"] == len(AGENT_NAMES_IN_ORDER)
    assert finished["total_tokens"] == AGENT_TOKENS
    assert finished["duration_ms"] == pytest.approx(100.0)
    assert finished["level"] == "DEFAULT"
    assert finished["running"] is False
    assert finished["service_name"] == "agent-app"


def test_running_and_error_traces_are_marked(client, corpus: Corpus):
    rows = {row["id"]: row for row in walk(client, "/api/v1/traces", 100)}
    running = next(t for t in corpus.of("proj-a") if t.running)
    assert rows[running.id]["running"] is True
    assert rows[running.id]["status"] == "RUNNING"
    assert rows[running.id]["duration_ms"] is None
    failed = next(t for t in corpus.of("proj-a") if t.level == "ERROR")
    assert rows[failed.id]["level"] == "ERROR"
    assert rows[failed.id]["status"] == "ERROR"
    assert rows[failed.id]["error_count"] >= 1


@pytest.mark.parametrize(
    ("params", "predicate"),
    [
        ({"session_id": "s-1"}, lambda t: t.session_id == "s-1"),
        ({"user_id": "bob"}, lambda t: t.user_id == "bob"),
        ({"name": "search_graph"}, lambda t: t.name == "search_graph"),
        ({"level": "ERROR"}, lambda t: t.level == "ERROR"),
        ({"tag": "canary"}, lambda t: "canary" in t.tags),
        ({"tag": ["beta", "canary"]}, lambda t: {"beta", "canary"} <= set(t.tags)),
        ({"tag": ["prod", "canary"]}, lambda t: False),
        ({"q": "SEARCH"}, lambda t: "search" in t.name),
        ({"q": "%"}, lambda t: False),
        (
            {"session_id": "s-2", "user_id": "alice"},
            lambda t: (t.session_id, t.user_id) == ("s-2", "alice"),
        ),
    ],
)
def test_filters(client, corpus: Corpus, params, predicate):
    expected = [t.id for t in corpus.newest_first("proj-a") if predicate(t)]
    assert list_ids(client, **params) == expected


def test_time_range_is_from_inclusive_to_exclusive(client, corpus: Corpus):
    traces = sorted(corpus.of("proj-a"), key=lambda t: t.start_ns)
    lo, hi = traces[3].start_ns, traces[8].start_ns
    expected = [t.id for t in corpus.newest_first("proj-a") if lo <= t.start_ns < hi]
    assert len(expected) == 5
    assert list_ids(client, **{"from": iso(lo), "to": iso(hi)}) == expected
    # a time without offset is UTC
    naive = datetime.fromtimestamp(lo / 1e9, tz=timezone.utc).replace(tzinfo=None).isoformat()
    assert list_ids(client, **{"from": naive, "to": iso(hi)}) == expected
    assert list_ids(client, **{"from": iso(lo), "to": iso(lo)}) == []


def test_ascending_order(client, corpus: Corpus):
    expected = [t.id for t in reversed(corpus.newest_first("proj-a"))]
    assert list_ids(client, order="asc") == expected


@pytest.mark.parametrize("order", ["desc", "asc"])
@pytest.mark.parametrize("limit", [1, 4, 7])
def test_cursor_walk_visits_every_trace_once_in_order(client, corpus: Corpus, order, limit):
    expected = [t.id for t in corpus.newest_first("proj-a")]
    if order == "asc":
        expected.reverse()
    rows = walk(client, "/api/v1/traces", limit, order=order)
    assert [row["id"] for row in rows] == expected


def test_cursor_walk_keeps_filters(client, corpus: Corpus):
    expected = [t.id for t in corpus.newest_first("proj-a") if t.user_id == "alice"]
    rows = walk(client, "/api/v1/traces", 2, user_id="alice")
    assert [row["id"] for row in rows] == expected


def test_trace_view_tree_and_flat_list(client, corpus: Corpus):
    fact = next(t for t in corpus.of("proj-a") if t.name == "agent_graph" and t.session_id)
    response = client.get(f"/api/v1/traces/{fact.id}")
    assert response.status_code == 200, response.text
    trace = response.json()
    assert trace["id"] == fact.id
    assert trace["session_id"] == fact.session_id
    assert trace["user_id"] == fact.user_id
    assert trace["tags"] == fact.tags
    assert trace["input"] == {"question": f"what is {fact.start_ns % 97}?"}
    assert trace["output"] == {"answer": "42"}

    observations = trace["observations"]
    assert [o["name"] for o in observations] == AGENT_NAMES_IN_ORDER
    assert [o["depth"] for o in observations] == AGENT_DEPTHS
    starts = [ts(o["start_time"]) for o in observations]
    assert starts == sorted(starts)
    by_id = {o["id"]: o for o in observations}
    root = observations[0]
    assert root["parent_observation_id"] is None
    assert trace["root_observation_id"] == root["id"]
    for obs in observations[1:]:
        parent = by_id[obs["parent_observation_id"]]
        assert parent["depth"] == obs["depth"] - 1
        assert ts(parent["start_time"]) <= ts(obs["start_time"])

    # the tree: one root, children in start order, same ids as the flat list
    assert len(trace["tree"]) == 1
    (tree_root,) = trace["tree"]
    assert tree_root["id"] == root["id"]
    assert [c["name"] for c in tree_root["children"]] == ["router", "planner", "agent", "answer"]
    agent = tree_root["children"][2]
    assert [c["name"] for c in agent["children"]] == ["ChatFakeModel", "search"]
    assert all(c["depth"] == 2 for c in agent["children"])

    def preorder(nodes):
        for node in nodes:
            yield node
            yield from preorder(node["children"])

    assert [n["id"] for n in preorder(trace["tree"])] == [o["id"] for o in observations]

    llm = by_id[tree_root["children"][1]["children"][0]["id"]]
    assert llm["type"] == "GENERATION"
    assert llm["model"] == "fake-gpt"
    assert (llm["input_tokens"], llm["output_tokens"]) == (12, 7)
    assert llm["model_parameters"] == {"temperature": 0.2}
    tool = by_id[agent["children"][1]["id"]]
    assert tool["type"] == "TOOL"
    assert tool["input"] == {"query": "weather in Bern"}
    assert tool["output"] == {"result": "sunny", "celsius": 21}
    assert tool["duration_ms"] == pytest.approx(24.0)
    assert by_id[agent["id"]]["langgraph_node"] == "agent"
    assert by_id[agent["id"]]["langgraph_step"] == 3


def test_trace_view_marks_running_spans(client, corpus: Corpus):
    fact = next(t for t in corpus.of("proj-a") if t.running)
    trace = client.get(f"/api/v1/traces/{fact.id}").json()
    assert trace["running"] is True
    running = {o["name"]: o["running"] for o in trace["observations"]}
    assert running == {
        "agent_graph": True,
        "router": False,
        "planner": True,
        "ChatFakeModel": True,
    }
    assert all(o["end_time"] is None for o in trace["observations"] if o["running"])
    assert trace["tree"][0]["running"] is True


def test_trace_id_is_case_insensitive(client, corpus: Corpus):
    fact = corpus.of("proj-a")[0]
    response = client.get(f"/api/v1/traces/{fact.id.upper()}")
    assert response.status_code == 200
    assert response.json()["id"] == fact.id


def test_missing_trace_is_404(client):
    response = client.get("/api/v1/traces/" + "ab" * 16)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_observations_list_and_filters(client, corpus: Corpus):
    fact = corpus.of("proj-a")[1]
    rows = walk(client, "/api/v1/observations", 3, trace_id=fact.id, order="asc")
    assert [r["name"] for r in rows] == [fact.name, *AGENT_NAMES_IN_ORDER[1:]]
    assert {r["trace_id"] for r in rows} == {fact.id}

    finished_a = [t for t in corpus.of("proj-a") if not t.running]
    generations = walk(client, "/api/v1/observations", 500, type="GENERATION")
    # two LLM calls per finished run, one (still running) in the running run
    assert len(generations) == 2 * len(finished_a) + 1
    assert {g["model"] for g in generations} == {"fake-gpt"}
    assert len(walk(client, "/api/v1/observations", 500, model="fake-gpt")) == len(generations)
    tools = walk(client, "/api/v1/observations", 500, name="search")
    assert len(tools) == len(finished_a)
    errors = walk(client, "/api/v1/observations", 500, level="ERROR")
    assert {e["name"] for e in errors} == {"agent_graph", "agent", "search"}

    lo = corpus.base_ns
    window = walk(
        client,
        "/api/v1/observations",
        5,
        **{"from": iso(lo), "to": iso(lo + 30 * MS)},
    )
    # spans of the first run starting in its first 30 ms: root, router, planner, LLM
    assert len(window) == 4
    stamps = [ts(w["start_time"]) for w in window]
    assert stamps == sorted(stamps, reverse=True)


def test_observation_by_id(client, corpus: Corpus):
    fact = corpus.of("proj-a")[2]
    trace = client.get(f"/api/v1/traces/{fact.id}").json()
    tool = next(o for o in trace["observations"] if o["name"] == "search")
    one = client.get(f"/api/v1/observations/{tool['id']}")
    assert one.status_code == 200
    assert one.json()["output"] == {"result": "sunny", "celsius": 21}
    exact = client.get(f"/api/v1/observations/{tool['id']}", params={"trace_id": fact.id})
    assert exact.json()["id"] == tool["id"]
    other_trace = corpus.of("proj-a")[3].id
    wrong = client.get(f"/api/v1/observations/{tool['id']}", params={"trace_id": other_trace})
    assert wrong.status_code == 404


def test_sessions_list_and_detail(client, corpus: Corpus):
    sessions = walk(client, "/api/v1/sessions", 2)
    a_sessions = {t.session_id for t in corpus.of("proj-a") if t.session_id}
    assert {s["session_id"] for s in sessions} == a_sessions
    last = [ts(s["last_trace_at"]) for s in sessions]
    assert last == sorted(last, reverse=True)
    s1 = next(s for s in sessions if s["session_id"] == "s-1")
    assert s1["trace_count"] == 6  # project B's s-1 traces are not counted
    assert sorted(s1["user_ids"]) == ["alice", "bob"]

    detail = client.get("/api/v1/sessions/s-1")
    assert detail.status_code == 200
    body = detail.json()
    expected = [t.id for t in sorted(corpus.of("proj-a"), key=lambda t: t.start_ns)]
    expected = [
        i for i in expected if i in {t.id for t in corpus.of("proj-a") if t.session_id == "s-1"}
    ]
    assert [t["id"] for t in body["traces"]] == expected
    assert body["trace_count"] == 6
    paged = client.get("/api/v1/sessions/s-1", params={"limit": 4}).json()
    rest = client.get(
        "/api/v1/sessions/s-1", params={"limit": 4, "cursor": paged["next_cursor"]}
    ).json()
    assert [t["id"] for t in paged["traces"] + rest["traces"]] == expected
    assert rest["next_cursor"] is None

    assert [s["session_id"] for s in walk(client, "/api/v1/sessions", 10, user_id="carol")] == [
        "s-err"
    ]
    assert [s["session_id"] for s in walk(client, "/api/v1/sessions", 10, q="LIVE")] == ["s-live"]
    assert client.get("/api/v1/sessions/nope").status_code == 404


def test_metrics_count_the_project(client, corpus: Corpus):
    metrics = client.get("/api/v1/observability/metrics").json()
    finished = [t for t in corpus.of("proj-a") if not t.running]
    assert metrics["project_id"] == "proj-a"
    assert metrics["traces_total"] == len(corpus.of("proj-a"))
    assert metrics["observations_total"] == len(finished) * len(AGENT_NAMES_IN_ORDER) + 4
    assert metrics["running_observations"] == 3
    assert metrics["error_traces_last_hour"] == 1
    assert metrics["status"] in {"healthy", "degraded", "down"}
    assert ts(metrics["last_trace_at"]) > datetime.now(timezone.utc) - timedelta(hours=1)


def test_token_totals_of_spans_and_traces(client, corpus: Corpus):
    trace_id = corpus.of("proj-a")[1].id
    detail = client.get(f"/api/v1/traces/{trace_id}").json()
    llm = [o for o in detail["observations"] if o["type"] == "GENERATION"]
    assert sorted(o["total_tokens"] for o in llm) == [12 + 7, 20 + 5]
    others = [o for o in detail["observations"] if o["type"] != "GENERATION"]
    assert others and all(o["total_tokens"] is None for o in others)
    assert (detail["input_tokens"], detail["output_tokens"]) == (32, 12)
    assert detail["total_tokens"] == AGENT_TOKENS
    assert detail["latency"] == pytest.approx(0.1)
