"""OTel context inside nodes: spans user code opens are children of the node span."""

from __future__ import annotations

import asyncio
import operator
import threading
from typing import Annotated, TypedDict

from langgraph.graph import END, START, StateGraph
from opentelemetry import trace


class S(TypedDict, total=False):
    x: int
    threads: Annotated[list[int], operator.add]


def _graph_with(node_fn, *, parallel: bool = False):
    g = StateGraph(S)
    g.add_node("work", node_fn)
    g.add_edge(START, "work")
    if parallel:
        g.add_node("other", lambda s: {"threads": [threading.get_ident()]})
        g.add_edge(START, "other")
        g.add_edge("other", END)
    g.add_edge("work", END)
    return g.compile(name="ctx")


def _user_span_is_child_of_node(spans, user_name: str = "user-work") -> None:
    s = spans()
    user = s.one(user_name)
    node = s.one("work")
    assert s.parent_of(user) is node
    assert s.parent_of(node) is s.one("ctx")


def test_user_span_in_sync_node_is_child_of_node_span(spans, provider):
    tracer = provider.get_tracer("user")

    def work(state):
        with tracer.start_as_current_span("user-work"):
            return {"x": 1}

    _graph_with(work).invoke({"x": 0})
    _user_span_is_child_of_node(spans)


async def test_user_span_in_async_node_is_child_of_node_span(spans, provider):
    tracer = provider.get_tracer("user")

    async def work(state):
        await asyncio.sleep(0)
        with tracer.start_as_current_span("user-work"):
            await asyncio.sleep(0)
            return {"x": 1}

    await _graph_with(work).ainvoke({"x": 0})
    _user_span_is_child_of_node(spans)


def test_user_span_in_thread_pool_node_is_child_of_node_span(spans, provider):
    """Two nodes in one superstep: LangGraph runs them on its thread pool."""
    tracer = provider.get_tracer("user")
    main = threading.get_ident()

    def work(state):
        with tracer.start_as_current_span("user-work"):
            return {"threads": [threading.get_ident()]}

    out = _graph_with(work, parallel=True).invoke({"x": 0})
    assert any(t != main for t in out["threads"]), "expected a node on a pool thread"
    _user_span_is_child_of_node(spans)


async def test_sync_node_in_async_graph_runs_in_executor_with_node_context(spans, provider):
    tracer = provider.get_tracer("user")
    main = threading.get_ident()

    def work(state):
        with tracer.start_as_current_span("user-work"):
            return {"threads": [threading.get_ident()]}

    out = await _graph_with(work).ainvoke({"x": 0})
    assert out["threads"] != [main]
    _user_span_is_child_of_node(spans)


def test_current_span_is_restored_after_the_run(provider):
    outside = trace.get_current_span()
    tracer = provider.get_tracer("user")
    with tracer.start_as_current_span("caller") as caller:
        _graph_with(lambda s: {"x": 1}).invoke({"x": 0})
        assert trace.get_current_span() is caller
    assert trace.get_current_span() is outside


def test_graph_called_inside_user_span_is_its_child(spans, provider):
    tracer = provider.get_tracer("user")
    with tracer.start_as_current_span("request"):
        _graph_with(lambda s: {"x": 1}).invoke({"x": 0})
    s = spans()
    assert s.parent_of(s.one("ctx")) is s.one("request")


async def test_concurrent_ainvokes_do_not_cross_traces(spans, provider):
    tracer = provider.get_tracer("user")

    async def work(state):
        # interleave the runs at every await
        for _ in range(3):
            await asyncio.sleep(0.001)
        with tracer.start_as_current_span(f"user-{state['x']}"):
            await asyncio.sleep(0.001)
        return {"x": state["x"]}

    graph = _graph_with(work)
    await asyncio.gather(*(graph.ainvoke({"x": i}) for i in range(8)))
    s = spans()
    roots = s.named("ctx")
    assert len(roots) == 8
    assert len({r.context.trace_id for r in roots}) == 8
    for root in roots:
        x = root.attributes["input.value"][5:-1]
        (node,) = s.children(root)
        assert node.attributes["input.value"] == f'{{"x":{x},"threads":[]}}'
        (user,) = s.children(node)
        assert user.name == f"user-{x}"
        assert user.context.trace_id == root.context.trace_id
