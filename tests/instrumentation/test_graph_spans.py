"""Root and node spans: structure (by parent ids), attributes, entry points, errors, retries."""

from __future__ import annotations

import operator
from typing import Annotated, TypedDict

import pytest
from langgraph.graph import END, START, StateGraph
from langgraph.types import RetryPolicy, Send
from lg_graphs import linear
from opentelemetry.trace import StatusCode


def assert_tree(spans, root_name: str, node_names: list[str]) -> None:
    root = spans.one(root_name)
    assert root.parent is None
    assert root.attributes["openinference.span.kind"] == "CHAIN"
    children = spans.children(root)
    assert [c.name for c in sorted(children, key=lambda s: s.start_time)] == node_names
    for child in children:
        assert child.context.trace_id == root.context.trace_id
        assert child.attributes["openinference.span.kind"] == "CHAIN"
        assert child.attributes["langgraph.node"] == child.name


def test_invoke_makes_a_root_named_after_the_graph_and_one_span_per_node(spans):
    result = linear(3, name="counter").invoke({"x": 0})
    assert result["x"] == 3
    s = spans()
    assert len(s.all) == 4
    assert_tree(s, "counter", ["n1", "n2", "n3"])
    steps = [s.one(f"n{i}").attributes["langgraph.step"] for i in (1, 2, 3)]
    assert steps == [1, 2, 3]
    n2 = s.one("n2")
    assert n2.attributes["langgraph.triggers"] == ("branch:to:n2",)
    assert n2.attributes["langgraph.checkpoint_ns"].startswith("n2:")


def test_payloads_are_json_with_mime_types(spans):
    linear(2).invoke({"x": 5})
    s = spans()
    root, n1 = s.one("linear"), s.one("n1")
    assert root.attributes["input.value"] == '{"x":5}'
    assert root.attributes["input.mime_type"] == "application/json"
    assert root.attributes["output.value"] == '{"x":7,"log":["n1","n2"]}'
    assert root.attributes["output.mime_type"] == "application/json"
    assert n1.attributes["input.value"] == '{"x":5,"log":[]}'
    assert n1.attributes["output.value"] == '{"x":6,"log":["n1"]}'


async def test_ainvoke_has_the_same_tree(spans):
    await linear(3, name="a").ainvoke({"x": 0})
    assert_tree(spans(), "a", ["n1", "n2", "n3"])


@pytest.mark.parametrize(
    "mode", ["values", "updates", "debug", "custom", "messages", "tasks", ["updates", "values"]]
)
def test_stream_every_mode_gives_one_root_and_node_children(spans, mode):
    chunks = list(linear(3, name="s").stream({"x": 0}, stream_mode=mode))
    assert chunks or mode in ("custom", "messages")
    s = spans()
    assert_tree(s, "s", ["n1", "n2", "n3"])
    assert s.one("s").attributes["langgraph.entrypoint"] == "stream"


@pytest.mark.parametrize("mode", ["values", "updates", "messages", ["values", "debug"]])
async def test_astream_every_mode_gives_one_root_and_node_children(spans, mode):
    async for _ in linear(3, name="as").astream({"x": 0}, stream_mode=mode):
        pass
    s = spans()
    assert_tree(s, "as", ["n1", "n2", "n3"])
    assert s.one("as").attributes["langgraph.entrypoint"] == "astream"


def test_stream_output_is_the_last_chunk(spans):
    list(linear(2, name="v").stream({"x": 0}, stream_mode="values"))
    assert spans().one("v").attributes["output.value"] == '{"x":2,"log":["n1","n2"]}'


def test_abandoned_stream_ends_the_root_when_closed(spans):
    gen = linear(3, name="early").stream({"x": 0}, stream_mode="updates")
    first = next(gen)
    assert first == {"n1": {"x": 1, "log": ["n1"]}}
    assert spans().named("early") == []  # still running
    gen.close()
    s = spans()
    root = s.one("early")
    assert root.attributes["langgraph.stream.closed_early"] is True
    assert root.status.status_code is StatusCode.UNSET
    assert [c.name for c in s.children(root)] == ["n1"]


async def test_abandoned_astream_ends_the_root_when_closed(spans):
    agen = linear(3, name="aearly").astream({"x": 0}, stream_mode="updates")
    await agen.__anext__()
    await agen.aclose()
    root = spans().one("aearly")
    assert root.attributes["langgraph.stream.closed_early"] is True
    assert root.end_time is not None


def test_stream_created_but_never_iterated_opens_no_span(spans):
    linear(2, name="lazy").stream({"x": 0})
    assert spans().all == []


def test_batch_gives_one_root_per_item(spans):
    out = linear(2, name="b").batch([{"x": 0}, {"x": 10}, {"x": 20}])
    assert [o["x"] for o in out] == [2, 12, 22]
    s = spans()
    roots = s.named("b")
    assert len(roots) == 3 and all(r.parent is None for r in roots)
    assert len({r.context.trace_id for r in roots}) == 3
    for root in roots:
        assert sorted(c.name for c in s.children(root)) == ["n1", "n2"]


async def test_abatch_gives_one_root_per_item(spans):
    await linear(2, name="ab").abatch([{"x": 0}, {"x": 1}])
    s = spans()
    roots = s.named("ab")
    assert len(roots) == 2
    for root in roots:
        assert sorted(c.name for c in s.children(root)) == ["n1", "n2"]


async def test_astream_events_gives_one_root_and_node_children(spans):
    events = [e async for e in linear(2, name="ev").astream_events({"x": 0}, version="v2")]
    assert any(e["event"] == "on_chain_end" for e in events)
    assert_tree(spans(), "ev", ["n1", "n2"])


class Fan(TypedDict, total=False):
    topic: str
    items: list[str]
    results: Annotated[list[str], operator.add]


def test_parallel_branches_are_siblings_under_the_root(spans):
    g = StateGraph(Fan)
    g.add_node("left", lambda s: {"results": ["l"]})
    g.add_node("right", lambda s: {"results": ["r"]})
    g.add_node("join", lambda s: {"topic": ",".join(sorted(s["results"]))})
    g.add_edge(START, "left")
    g.add_edge(START, "right")
    g.add_edge(["left", "right"], "join")
    g.add_edge("join", END)
    out = g.compile(name="par").invoke({"topic": ""})
    assert out["topic"] == "l,r"
    s = spans()
    root = s.one("par")
    left, right = s.one("left"), s.one("right")
    assert s.parent_of(left) is root and s.parent_of(right) is root
    assert left.attributes["langgraph.step"] == right.attributes["langgraph.step"] == 1
    assert s.parent_of(s.one("join")) is root


def test_send_map_reduce_fan_out_spans_are_siblings(spans):
    def fan_out(state):
        return [Send("work", {"topic": item}) for item in state["items"]]

    g = StateGraph(Fan)
    g.add_node("plan", lambda s: {"items": ["a", "b", "c"]})
    g.add_node("work", lambda s: {"results": [s["topic"].upper()]})
    g.add_node("reduce", lambda s: {"topic": "".join(sorted(s["results"]))})
    g.add_edge(START, "plan")
    g.add_conditional_edges("plan", fan_out, ["work"])
    g.add_edge("work", "reduce")
    g.add_edge("reduce", END)
    out = g.compile(name="mapreduce").invoke({"topic": ""})
    assert out["topic"] == "ABC"
    s = spans()
    root = s.one("mapreduce")
    workers = s.named("work")
    assert len(workers) == 3
    assert all(s.parent_of(w) is root for w in workers)
    assert len({w.attributes["langgraph.step"] for w in workers}) == 1
    assert sorted(w.attributes["input.value"] for w in workers) == [
        '{"topic":"a"}',
        '{"topic":"b"}',
        '{"topic":"c"}',
    ]
    assert s.parent_of(s.one("reduce")) is root


def test_loops_give_one_span_per_run(spans):
    g = StateGraph(Fan)
    g.add_node("tick", lambda s: {"results": ["t"]})
    g.add_edge(START, "tick")
    g.add_conditional_edges("tick", lambda s: END if len(s["results"]) >= 3 else "tick")
    g.compile(name="loop").invoke({"results": []})
    s = spans()
    ticks = s.named("tick")
    assert [t.attributes["langgraph.step"] for t in sorted(ticks, key=lambda t: t.start_time)] == [
        1,
        2,
        3,
    ]
    assert all(s.parent_of(t) is s.one("loop") for t in ticks)


def _two_level_graph():
    inner = linear(2, name="inner")

    class S(TypedDict, total=False):
        x: int
        log: Annotated[list[str], operator.add]

    middle_builder = StateGraph(S)
    middle_builder.add_node("prep", lambda s: {"x": s.get("x", 0) + 100})
    middle_builder.add_node("inner_graph", inner)
    middle_builder.add_edge(START, "prep")
    middle_builder.add_edge("prep", "inner_graph")
    middle_builder.add_edge("inner_graph", END)
    middle = middle_builder.compile(name="middle")

    outer_builder = StateGraph(S)
    outer_builder.add_node("middle_graph", middle)
    outer_builder.add_node("after", lambda s: {"x": s["x"] + 1000})
    outer_builder.add_edge(START, "middle_graph")
    outer_builder.add_edge("middle_graph", "after")
    outer_builder.add_edge("after", END)
    return outer_builder.compile(name="outer")


def _assert_two_level(s):
    assert len(s.roots()) == 1
    outer = s.one("outer")
    middle_node = s.one("middle_graph")
    assert s.parent_of(middle_node) is outer
    assert s.parent_of(s.one("after")) is outer
    assert s.parent_of(s.one("prep")) is middle_node
    inner_node = s.one("inner_graph")
    assert s.parent_of(inner_node) is middle_node
    for name in ("n1", "n2"):
        node = s.one(name)
        assert s.parent_of(node) is inner_node
        assert node.attributes["langgraph.checkpoint_ns"].startswith("middle_graph:")
    assert len({x.context.trace_id for x in s.all}) == 1
    assert s.named("inner") == [] and s.named("middle") == []  # no extra roots


def test_two_level_subgraphs_nest_under_the_nodes_that_run_them(spans):
    out = _two_level_graph().invoke({"x": 0})
    assert out["x"] == 1102
    _assert_two_level(spans())


async def test_two_level_subgraphs_nest_in_async_and_streaming_runs(spans):
    async for _ in _two_level_graph().astream({"x": 0}, subgraphs=True):
        pass
    _assert_two_level(spans())


class Boom(RuntimeError):
    pass


def _failing_graph(where: str):
    g = StateGraph(Fan)

    def bad(state):
        raise Boom("node failed")

    g.add_node("ok", lambda s: {"results": ["ok"]})
    g.add_node("bad", bad)
    g.add_edge(START, "ok")
    g.add_edge("ok", "bad")
    g.add_edge("bad", END)
    inner = g.compile(name="inner_fail")
    if where == "top":
        return inner
    outer = StateGraph(Fan)
    outer.add_node("sub", inner)
    outer.add_edge(START, "sub")
    outer.add_edge("sub", END)
    return outer.compile(name="outer_fail")


@pytest.mark.parametrize("where", ["top", "subgraph"])
def test_errors_mark_node_and_ancestors_and_reach_the_caller_unchanged(spans, where):
    graph = _failing_graph(where)
    with pytest.raises(Boom, match="node failed") as info:
        graph.invoke({"results": []})
    assert type(info.value) is Boom
    s = spans()
    bad = s.one("bad")
    chain = [bad]
    while (parent := s.parent_of(chain[-1])) is not None:
        chain.append(parent)
    expected = ["bad", "inner_fail"] if where == "top" else ["bad", "sub", "outer_fail"]
    assert [c.name for c in chain] == expected
    for span in chain:
        assert span.status.status_code is StatusCode.ERROR
        events = [e for e in span.events if e.name == "exception"]
        assert events and events[0].attributes["exception.type"].endswith("Boom")
    assert s.one("ok").status.status_code is StatusCode.UNSET


async def test_async_errors_mark_node_and_root(spans):
    with pytest.raises(Boom):
        await _failing_graph("top").ainvoke({"results": []})
    s = spans()
    assert s.one("bad").status.status_code is StatusCode.ERROR
    assert s.one("inner_fail").status.status_code is StatusCode.ERROR


def test_stream_errors_mark_the_root(spans):
    with pytest.raises(Boom):
        list(_failing_graph("top").stream({"results": []}))
    assert spans().one("inner_fail").status.status_code is StatusCode.ERROR


def _flaky_graph(fail_times: int, is_async: bool = False):
    calls = {"n": 0}

    def flaky(state):
        calls["n"] += 1
        if calls["n"] <= fail_times:
            raise ConnectionError(f"attempt {calls['n']} failed")
        return {"results": ["done"]}

    async def aflaky(state):
        return flaky(state)

    g = StateGraph(Fan)
    g.add_node(
        "flaky",
        aflaky if is_async else flaky,
        retry_policy=RetryPolicy(max_attempts=3, initial_interval=0.001, jitter=False),
    )
    g.add_edge(START, "flaky")
    g.add_edge("flaky", END)
    return g.compile(name="retrying")


def test_retries_are_visible_as_events_and_attempt_count(spans):
    out = _flaky_graph(2).invoke({"results": []})
    assert out["results"] == ["done"]
    node = spans().one("flaky")
    retries = [e for e in node.events if e.name == "retry"]
    assert [e.attributes["langgraph.attempt"] for e in retries] == [2, 3]
    assert retries[0].attributes["exception.type"] == "ConnectionError"
    assert retries[0].attributes["exception.message"].startswith("attempt 1 failed")
    assert node.attributes["langgraph.attempts"] == 3
    assert node.status.status_code is StatusCode.UNSET


async def test_exhausted_async_retries_end_in_error(spans):
    with pytest.raises(ConnectionError):
        await _flaky_graph(5, is_async=True).ainvoke({"results": []})
    s = spans()
    node = s.one("flaky")
    assert node.attributes["langgraph.attempts"] == 3
    assert len([e for e in node.events if e.name == "retry"]) == 2
    assert node.status.status_code is StatusCode.ERROR
    assert s.one("retrying").status.status_code is StatusCode.ERROR


def test_session_user_tags_and_metadata_go_on_the_root(spans):
    linear(1, name="sess").invoke(
        {"x": 0},
        {
            "configurable": {"thread_id": "thread-42"},
            "metadata": {"user_id": "alice", "tenant": "acme", "api_key": "sk-123"},
            "tags": ["prod", "beta"],
        },
    )
    root = spans().one("sess")
    assert root.attributes["session.id"] == "thread-42"
    assert root.attributes["user.id"] == "alice"
    assert root.attributes["tag.tags"] == ("prod", "beta")
    assert root.attributes["metadata"] == (
        '{"user_id":"alice","tenant":"acme","api_key":"[REDACTED]"}'
    )


def test_functional_api_tasks_are_spans_under_the_entrypoint(spans):
    from langgraph.func import entrypoint, task

    @task
    def double(x: int) -> int:
        return x * 2

    @entrypoint()
    def workflow(x: int) -> int:
        return double(x).result() + 1

    assert workflow.invoke(3) == 7
    s = spans()
    root = s.one("LangGraph")  # an entrypoint's graph keeps LangGraph's default name
    assert root.parent is None
    wf_node = s.one("workflow")
    assert s.parent_of(wf_node) is root
    assert s.parent_of(s.one("double")) is wf_node
    assert s.one("double").attributes["output.value"] == "6"


def test_garbage_collected_stream_ends_its_root(spans):
    import gc

    gen = linear(3, name="dropped").stream({"x": 0})
    next(gen)
    del gen
    gc.collect()
    root = spans().one("dropped")
    assert root.attributes["langgraph.stream.closed_early"] is True
