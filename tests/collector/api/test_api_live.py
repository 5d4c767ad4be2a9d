"""Data arriving while users look: stable pages, running spans that complete, late roots."""

from __future__ import annotations

import time

import pytest
from api_corpus import MS, emit_agent_run
from api_support import WireSpanProcessor
from fastapi.testclient import TestClient
from opentelemetry import trace as otel
from opentelemetry.sdk.trace import TracerProvider
from swisper_studio.collector.api.app import create_app


@pytest.fixture
def live(fresh_studio):
    with TestClient(create_app(fresh_studio.settings)) as client:
        client.headers.update(fresh_studio.headers("proj-a"))
        yield fresh_studio, client


def page(client, **params) -> dict:
    response = client.get("/api/v1/traces", params=params)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("order", ["desc", "asc"])
def test_pages_neither_repeat_nor_skip_while_traces_arrive(live, order):
    studio, client = live
    tracer = studio.tracer("proj-a")
    base = (time.time_ns() // 1_000_000_000 - 3600) * 1_000_000_000
    original = []
    for i in range(30):
        # pairs of runs share a start time: the id breaks the tie
        original.append(emit_agent_run(tracer, base + (i // 2) * 1000 * MS, session_id="p"))
    studio.ingest()

    seen, cursor, arrived = [], None, []
    later = base + 100_000 * MS
    while True:
        params = {"limit": 7, "order": order, "session_id": "p"}
        if cursor:
            params["cursor"] = cursor
        body = page(client, **params)
        seen.extend(row["id"] for row in body["data"])
        # between two page loads, new runs arrive: newer ones, and one as old as the oldest
        arrived.append(emit_agent_run(tracer, later + len(arrived) * MS, session_id="p"))
        studio.ingest()
        cursor = body["next_cursor"]
        if cursor is None:
            break

    assert len(seen) == len(set(seen)), "a trace was listed twice"
    by_start = page(client, limit=1000, order="asc", session_id="p")["data"]
    expected_old = [row["id"] for row in by_start if row["id"] in set(original)]
    if order == "desc":
        # new runs are newer than the first page: the walk shows exactly the original runs
        assert seen == list(reversed(expected_old))
    else:
        # oldest first: the walk reaches the runs that arrived meanwhile, each once, in order
        assert seen[: len(original)] == expected_old
        assert set(seen[len(original) :]) <= set(arrived)
        assert (
            seen[len(original) :]
            == [row["id"] for row in by_start if row["id"] in seen][len(original) :]
        )


def test_running_spans_show_and_complete(live):
    studio, client = live
    tracer = studio.tracer("proj-a")
    root = tracer.start_span("agent_graph", attributes={"session.id": "live-1"})
    ctx = otel.set_span_in_context(root)
    done = tracer.start_span("router", context=ctx)
    done.end()
    node = tracer.start_span("planner", context=ctx)
    studio.ingest()
    trace_id = f"{root.get_span_context().trace_id:032x}"

    running = client.get(f"/api/v1/traces/{trace_id}").json()
    assert running["running"] is True
    assert {o["name"]: o["running"] for o in running["observations"]} == {
        "agent_graph": True,
        "router": False,
        "planner": True,
    }
    listed = page(client, session_id="live-1")["data"][0]
    assert listed["running"] is True and listed["duration_ms"] is None

    node.end()
    root.end()
    studio.ingest()
    finished = client.get(f"/api/v1/traces/{trace_id}").json()
    assert finished["running"] is False
    assert not any(o["running"] for o in finished["observations"])
    assert finished["duration_ms"] is not None and finished["duration_ms"] >= 0
    assert finished["status"] == "UNSET"


class HoldRoots(WireSpanProcessor):
    """Publishes children at once but keeps root spans' events until ``release()``."""

    def __init__(self, *args) -> None:
        super().__init__(*args)
        self.held: list[tuple[str, object]] = []

    def on_start(self, span, parent_context=None) -> None:
        if span.parent is None:
            self.held.append(("start", span))
        else:
            super().on_start(span, parent_context)

    def on_end(self, span) -> None:
        if span.parent is None:
            self.held.append(("end", span))
        else:
            super().on_end(span)

    def release(self) -> None:
        for what, span in self.held:
            (super().on_start if what == "start" else super().on_end)(span)


def test_trace_shows_before_its_root_arrives(live):
    """Children whose parent is not stored yet are roots of the tree until it arrives."""
    studio, client = live
    holder = HoldRoots(studio.redis, studio.settings.stream_name, "proj-a")
    provider = TracerProvider()
    provider.add_span_processor(holder)
    tracer = provider.get_tracer("tests.late-root")
    root = tracer.start_span("agent_graph")
    ctx = otel.set_span_in_context(root)
    tracer.start_span("router", context=ctx).end()
    tracer.start_span("planner", context=ctx).end()
    root.end()
    studio.ingest()
    trace_id = f"{root.get_span_context().trace_id:032x}"
    early = client.get(f"/api/v1/traces/{trace_id}").json()
    assert [n["name"] for n in early["tree"]] == ["router", "planner"]
    assert all(n["depth"] == 0 for n in early["tree"])
    assert early["running"] is True  # the root has not been seen

    holder.release()
    studio.ingest()
    late = client.get(f"/api/v1/traces/{trace_id}").json()
    assert [n["name"] for n in late["tree"]] == ["agent_graph"]
    assert [c["name"] for c in late["tree"][0]["children"]] == ["router", "planner"]
    assert late["name"] == "agent_graph"
    assert late["running"] is False
