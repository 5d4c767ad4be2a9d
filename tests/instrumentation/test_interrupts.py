"""interrupt() / Command(resume=...): no unended span, interrupted is not an error."""

from __future__ import annotations

from typing import TypedDict

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.trace import StatusCode


class OpenSpans(SpanProcessor):
    """Counts spans started but not ended."""

    def __init__(self) -> None:
        self.open: set[int] = set()

    def on_start(self, span, parent_context=None) -> None:
        self.open.add(span.context.span_id)

    def on_end(self, span) -> None:
        self.open.discard(span.context.span_id)


@pytest.fixture
def open_spans(provider) -> OpenSpans:
    tracker = OpenSpans()
    provider.add_span_processor(tracker)
    return tracker


class Approval(TypedDict, total=False):
    request: str
    answer: str
    done: bool


def _approval_graph(*, nested: bool = False):
    def ask(state):
        answer = interrupt({"question": f"approve {state['request']}?"})
        return {"answer": answer}

    g = StateGraph(Approval)
    g.add_node("ask", ask)
    g.add_node("finish", lambda s: {"done": True})
    g.add_edge(START, "ask")
    g.add_edge("ask", "finish")
    g.add_edge("finish", END)
    if not nested:
        return g.compile(name="approval", checkpointer=InMemorySaver())
    inner = g.compile(name="inner_approval")
    outer = StateGraph(Approval)
    outer.add_node("review", inner)
    outer.add_edge(START, "review")
    outer.add_edge("review", END)
    return outer.compile(name="approval", checkpointer=InMemorySaver())


@pytest.mark.parametrize("nested", [False, True])
def test_interrupt_then_resume(spans, exporter, open_spans, nested):
    graph = _approval_graph(nested=nested)
    config = {"configurable": {"thread_id": f"t-{nested}"}, "metadata": {"user_id": "bob"}}

    first = graph.invoke({"request": "refund"}, config)
    assert "__interrupt__" in first
    assert open_spans.open == set()
    s = spans()
    root = s.one("approval")
    assert root.attributes["langgraph.interrupted"] is True
    assert root.status.status_code is not StatusCode.ERROR
    ask = s.one("ask")
    assert ask.attributes["langgraph.interrupted"] is True
    assert ask.status.status_code is not StatusCode.ERROR
    assert not [e for e in ask.events if e.name == "exception"]
    if nested:
        review = s.one("review")
        assert s.parent_of(ask) is review and s.parent_of(review) is root
        assert review.attributes["langgraph.interrupted"] is True
        assert review.status.status_code is not StatusCode.ERROR
    assert s.named("finish") == []

    exporter.clear()
    second = graph.invoke(Command(resume="yes"), config)
    assert second == {"request": "refund", "answer": "yes", "done": True}
    assert open_spans.open == set()
    s = spans()
    resumed = s.one("approval")
    assert resumed.context.trace_id != root.context.trace_id
    assert resumed.attributes["session.id"] == root.attributes["session.id"] == f"t-{nested}"
    assert resumed.attributes["user.id"] == "bob"
    assert resumed.attributes["langgraph.resumed"] is True
    assert "langgraph.interrupted" not in resumed.attributes
    ask2 = s.one("ask")
    assert ask2.attributes["output.value"] == '{"answer":"yes"}'
    assert s.parent_of(s.one("finish")) in (resumed, s.named("review")[0] if nested else None)


async def test_interrupt_in_astream_leaves_no_open_span(spans, open_spans):
    graph = _approval_graph()
    config = {"configurable": {"thread_id": "async-1"}}
    chunks = [c async for c in graph.astream({"request": "x"}, config, stream_mode="updates")]
    assert "__interrupt__" in chunks[-1]
    assert open_spans.open == set()
    root = spans().one("approval")
    assert root.attributes["langgraph.interrupted"] is True
    assert root.status.status_code is StatusCode.UNSET
    async for _ in graph.astream(Command(resume="ok"), config):
        pass
    assert open_spans.open == set()
    assert len(spans().named("approval")) == 2


def test_static_breakpoint_marks_the_run_interrupted_and_resume_marks_resumed(spans, exporter):
    g = StateGraph(Approval)
    g.add_node("prepare", lambda s: {"answer": "draft"})
    g.add_node("send", lambda s: {"done": True})
    g.add_edge(START, "prepare")
    g.add_edge("prepare", "send")
    g.add_edge("send", END)
    graph = g.compile(name="breakpoint", checkpointer=InMemorySaver(), interrupt_before=["send"])
    config = {"configurable": {"thread_id": "bp"}}
    graph.invoke({"request": "r"}, config)
    root = spans().one("breakpoint")
    assert root.attributes["langgraph.interrupted"] is True
    assert spans().named("send") == []
    exporter.clear()
    assert graph.invoke(None, config)["done"] is True
    resumed = spans().one("breakpoint")
    assert resumed.attributes["langgraph.resumed"] is True
    assert "langgraph.interrupted" not in resumed.attributes
    assert spans().parent_of(spans().one("send")) is resumed


def test_command_to_parent_graph_is_not_an_error(spans):
    class Nav(TypedDict, total=False):
        where: str

    def hop(state):
        return Command(graph=Command.PARENT, goto="landing", update={"where": "sub"})

    inner = StateGraph(Nav)
    inner.add_node("hop", hop)
    inner.add_edge(START, "hop")
    outer = StateGraph(Nav)
    outer.add_node("sub", inner.compile())
    outer.add_node("landing", lambda s: {"where": s["where"] + "+landed"})
    outer.add_edge(START, "sub")
    outer.add_edge("landing", END)
    out = outer.compile(name="nav").invoke({"where": ""})
    assert out["where"] == "sub+landed"
    s = spans()
    for name in ("hop", "sub", "nav", "landing"):
        assert s.one(name).status.status_code is StatusCode.UNSET, name
    assert s.parent_of(s.one("hop")) is s.one("sub")
    assert s.parent_of(s.one("landing")) is s.one("nav")
