"""Helpers shared by the collector tests: real OTel SDK spans encoded with the wire format."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.trace import Status, StatusCode
from swisper_studio.exporter import wire

Fields = dict[bytes, bytes]


class WireRecorder(SpanProcessor):
    """A tiny SpanProcessor that encodes span_start/span_end events like the real processor."""

    def __init__(self, project_id: str = "proj", sink: Callable[[Fields], None] | None = None):
        self.project_id = project_id
        self.events: list[Fields] = []
        self.sink = sink

    def _emit(self, fields: Fields) -> None:
        self.events.append(fields)
        if self.sink is not None:
            self.sink(fields)

    def on_start(self, span: Span, parent_context=None) -> None:
        ctx = span.get_span_context()
        parent = span.parent
        self._emit(
            wire.encode_span_start(
                project_id=self.project_id,
                trace_id=ctx.trace_id,
                span_id=ctx.span_id,
                parent_span_id=parent.span_id if parent else None,
                name=span.name,
                kind=span.kind.name,
                start_time_unix_nano=span.start_time,
                attributes=span.attributes,
                resource=wire.encode_resource(span.resource),
                scope=wire.encode_scope(span.instrumentation_scope),
            )
        )

    def on_end(self, span: ReadableSpan) -> None:
        self._emit(wire.encode_span_end(span, project_id=self.project_id))


def make_tracer(recorder: WireRecorder, service: str = "svc"):
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(recorder)
    return provider.get_tracer("tests.collector")


def agent_trace(tracer, *, fail_tool: bool = False, session: str = "s1", nodes: int = 2) -> str:
    """One LangGraph-like run: graph root, nodes, an LLM call and a tool call; returns trace id."""
    with tracer.start_as_current_span(
        "agent",
        attributes={
            "openinference.span.kind": "CHAIN",
            "session.id": session,
            "user.id": "u1",
            "tag.tags": ["prod", "beta"],
            "input.value": '{"question": "hi"}',
            "input.mime_type": "application/json",
        },
    ) as root:
        for step in range(1, nodes + 1):
            with tracer.start_as_current_span(
                f"node{step}",
                attributes={
                    "openinference.span.kind": "CHAIN",
                    "langgraph.node": f"node{step}",
                    "langgraph.step": step,
                },
            ):
                with tracer.start_as_current_span(
                    "chat",
                    attributes={
                        "openinference.span.kind": "LLM",
                        "gen_ai.request.model": "gpt-test",
                        "gen_ai.usage.input_tokens": 10,
                        "gen_ai.usage.output_tokens": 5,
                    },
                ) as llm:
                    llm.add_event("first_token")
                    llm.set_attribute("output.value", "hello")
                with tracer.start_as_current_span(
                    "search", attributes={"openinference.span.kind": "TOOL"}
                ) as tool:
                    if fail_tool:
                        tool.record_exception(ValueError("boom"))
                        tool.set_status(Status(StatusCode.ERROR, "boom"))
        root.set_attribute("output.value", '{"answer": "hello"}')
        root.set_attribute("output.mime_type", "application/json")
        return f"{root.get_span_context().trace_id:032x}"


OBS_COLUMNS = (
    "id, trace_id, project_id, parent_observation_id, type, name, kind, start_time, end_time,"
    " completion_start_time, level, status_code, status_message, input, output, metadata, model,"
    " model_parameters, usage, input_tokens, output_tokens, total_tokens, langgraph_node,"
    " langgraph_step, events, has_start, has_end"
)
TRACE_COLUMNS = (
    "id, project_id, name, user_id, session_id, start_time, end_time, input, output, metadata,"
    " tags, level, status, status_message, root_observation_id, service_name"
)


def snapshot(database_url: str) -> tuple[list[tuple], list[tuple]]:
    """All observation and trace rows (without bookkeeping timestamps), sorted."""
    with psycopg.connect(database_url) as conn:
        obs = conn.execute(f"SELECT {OBS_COLUMNS} FROM observations ORDER BY 2, 1").fetchall()
        traces = conn.execute(f"SELECT {TRACE_COLUMNS} FROM traces ORDER BY 1").fetchall()
    return obs, traces


def count(database_url: str, sql: str) -> int:
    with psycopg.connect(database_url) as conn:
        return conn.execute(sql).fetchone()[0]


@contextmanager
def connect(database_url: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn
