"""A LangGraph-shaped data set made of real OTel SDK spans with known times and attributes."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

from opentelemetry import trace as otel
from opentelemetry.trace import Status, StatusCode

MS = 1_000_000  # nanoseconds per millisecond

# (name, parent index, start ms, end ms, kind, extra attributes) of one agent run.
AGENT_SPANS = [
    ("agent_graph", None, 0, 100, "CHAIN", {}),
    ("router", 0, 1, 10, "CHAIN", {"langgraph.node": "router", "langgraph.step": 1}),
    ("planner", 0, 11, 40, "CHAIN", {"langgraph.node": "planner", "langgraph.step": 2}),
    (
        "ChatFakeModel",
        2,
        12,
        38,
        "LLM",
        {
            "gen_ai.request.model": "fake-gpt",
            "gen_ai.usage.input_tokens": 12,
            "gen_ai.usage.output_tokens": 7,
            "gen_ai.request.temperature": 0.2,
        },
    ),
    ("agent", 0, 41, 90, "CHAIN", {"langgraph.node": "agent", "langgraph.step": 3}),
    (
        "ChatFakeModel",
        4,
        42,
        60,
        "LLM",
        {
            "gen_ai.request.model": "fake-gpt",
            "gen_ai.usage.input_tokens": 20,
            "gen_ai.usage.output_tokens": 5,
        },
    ),
    ("search", 4, 61, 85, "TOOL", {"gen_ai.tool.name": "search"}),
    ("answer", 0, 91, 99, "CHAIN", {"langgraph.node": "answer", "langgraph.step": 4}),
]
AGENT_NAMES_IN_ORDER = [span[0] for span in AGENT_SPANS]
AGENT_DEPTHS = [0, 1, 1, 2, 1, 2, 2, 1]
AGENT_TOKENS = 12 + 7 + 20 + 5


@dataclass
class TraceFact:
    id: str
    project: str
    name: str
    session_id: str | None
    user_id: str | None
    tags: list[str]
    start_ns: int
    level: str = "DEFAULT"
    running: bool = False


@dataclass
class Corpus:
    base_ns: int
    traces: list[TraceFact] = field(default_factory=list)

    def of(self, project: str) -> list[TraceFact]:
        return [t for t in self.traces if t.project == project]

    def newest_first(self, project: str) -> list[TraceFact]:
        return sorted(self.of(project), key=lambda t: (t.start_ns, t.id), reverse=True)


def _hex(trace_id: int) -> str:
    return f"{trace_id:032x}"


def emit_agent_run(
    tracer,
    start_ns: int,
    *,
    name: str = "agent_graph",
    session_id: str | None = None,
    user_id: str | None = None,
    tags: list[str] | None = None,
    fail_tool: bool = False,
    stop_after: int | None = None,
) -> str:
    """Emit one agent run; returns its trace id.

    ``stop_after=k`` leaves the run in progress: spans before ``k`` end normally (the root
    never ends), spans ``k`` and ``k + 1`` start but never end (only their ``span_start``
    events exist), later spans never start.
    """
    spans = []
    for index, (span_name, parent, start_ms, _end_ms, kind, extra) in enumerate(AGENT_SPANS):
        if stop_after is not None and index > stop_after + 1:
            break
        attributes = {"openinference.span.kind": kind, **extra}
        if parent is None:
            span_name = name
            attributes.update(
                {
                    "input.value": json.dumps({"question": f"what is {start_ns % 97}?"}),
                    "input.mime_type": "application/json",
                    "output.value": json.dumps({"answer": "42"}),
                    "output.mime_type": "application/json",
                }
            )
            if session_id:
                attributes["session.id"] = session_id
            if user_id:
                attributes["user.id"] = user_id
            if tags:
                attributes["tag.tags"] = tags
        elif kind == "TOOL":
            attributes["input.value"] = json.dumps({"query": "weather in Bern"})
            attributes["output.value"] = json.dumps({"result": "sunny", "celsius": 21})
        context = otel.set_span_in_context(spans[parent]) if parent is not None else None
        spans.append(
            tracer.start_span(
                span_name,
                context=context,
                start_time=start_ns + start_ms * MS,
                attributes=attributes,
            )
        )
    if fail_tool:
        spans[6].record_exception(RuntimeError("search backend down"))
        spans[6].set_status(Status(StatusCode.ERROR, "search backend down"))
        spans[4].set_status(Status(StatusCode.ERROR, "tool failed"))
        spans[0].set_status(Status(StatusCode.ERROR, "tool failed"))
    for index, span in enumerate(spans[1:], start=1):
        if stop_after is None or index < stop_after:
            span.end(end_time=start_ns + AGENT_SPANS[index][3] * MS)
    if stop_after is None:
        spans[0].end(end_time=start_ns + AGENT_SPANS[0][3] * MS)
    return _hex(spans[0].get_span_context().trace_id)


def build_corpus(tracer_a, tracer_b) -> Corpus:
    """26 runs in project A (sessions, users, tags, one error, one running), 3 in B."""
    base_ns = (time.time_ns() // 1_000_000_000 - 1800) * 1_000_000_000  # 30 min ago, whole s
    corpus = Corpus(base_ns=base_ns)
    for i in range(24):
        session = "s-1" if i < 6 else "s-2" if i < 12 else None
        user = "alice" if i % 2 == 0 else "bob"
        tags = ["prod"] if i % 2 == 0 else ["beta", "canary"]
        name = "search_graph" if i % 5 == 0 else "agent_graph"
        start = base_ns + i * 10_000 * MS
        trace_id = emit_agent_run(
            tracer_a, start, name=name, session_id=session, user_id=user, tags=tags
        )
        corpus.traces.append(TraceFact(trace_id, "proj-a", name, session, user, tags, start))
    start = base_ns + 24 * 10_000 * MS
    trace_id = emit_agent_run(
        tracer_a, start, session_id="s-err", user_id="carol", tags=["prod"], fail_tool=True
    )
    corpus.traces.append(
        TraceFact(trace_id, "proj-a", "agent_graph", "s-err", "carol", ["prod"], start, "ERROR")
    )
    start = base_ns + 25 * 10_000 * MS
    trace_id = emit_agent_run(tracer_a, start, session_id="s-live", user_id="dave", stop_after=2)
    corpus.traces.append(
        TraceFact(trace_id, "proj-a", "agent_graph", "s-live", "dave", [], start, running=True)
    )
    for i in range(3):
        start = base_ns + (i * 10_000 + 5_000) * MS
        trace_id = emit_agent_run(tracer_b, start, session_id="s-1", user_id="eve", tags=["prod"])
        corpus.traces.append(
            TraceFact(trace_id, "proj-b", "agent_graph", "s-1", "eve", ["prod"], start)
        )
    return corpus
