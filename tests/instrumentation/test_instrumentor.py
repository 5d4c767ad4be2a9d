"""The instrumentor: entry point, idempotence, uninstrument, disabled tracing, configure()."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, TypedDict

import pytest
from langchain_core.callbacks import BaseCallbackManager
from langgraph.graph import END, START, StateGraph
from langgraph.pregel import Pregel, _runner
from lg_graphs import linear
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ParentBased, TraceIdRatioBased
from opentelemetry.trace import NoOpTracerProvider
from swisper_studio.instrumentation import (
    LangGraphInstrumentor,
    instrument_langgraph,
    uninstrument_langgraph,
)


def test_entry_point_is_registered_and_instruments(provider, spans):
    uninstrument_langgraph()
    (ep,) = [e for e in entry_points(group="opentelemetry_instrumentor") if e.name == "langgraph"]
    cls = ep.load()
    assert cls is LangGraphInstrumentor
    cls().instrument(tracer_provider=provider)
    linear(2, name="via_ep").invoke({"x": 0})
    assert sorted(s.name for s in spans().all) == ["n1", "n2", "via_ep"]


def test_opentelemetry_instrument_command_picks_it_up(tmp_path: Path):
    script = tmp_path / "app.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import sys
            sys.path.insert(0, {str(Path(__file__).parent)!r})
            from lg_graphs import linear
            linear(2, name="auto_graph").invoke({{"x": 0}})
            """
        )
    )
    others = [e.name for e in entry_points(group="opentelemetry_instrumentor")]
    env = {
        **os.environ,
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_SERVICE_NAME": "auto-test",
        "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": ",".join(n for n in others if n != "langgraph"),
    }
    bindir = Path(sys.executable).parent
    result = subprocess.run(
        [str(bindir / "opentelemetry-instrument"), sys.executable, str(script)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    decoder = json.JSONDecoder()
    out, found, pos = result.stdout, [], 0
    while (start := out.find("{", pos)) != -1:
        obj, pos = decoder.raw_decode(out, start)
        found.append(obj)
    by_name = {s["name"]: s for s in found}
    assert {"auto_graph", "n1", "n2"} <= set(by_name)
    root_id = by_name["auto_graph"]["context"]["span_id"]
    assert by_name["n1"]["parent_id"] == root_id
    assert by_name["n1"]["attributes"]["langgraph.node"] == "n1"


def test_second_instrument_call_is_harmless(spans, provider):
    instrument_langgraph(provider)
    instrument_langgraph(provider, max_payload_bytes=100)
    linear(1, name="twice").invoke({"x": 0})
    s = spans()
    assert sorted(x.name for x in s.all) == ["n1", "twice"]  # no duplicate spans


def test_uninstrument_restores_everything(spans):
    uninstrument_langgraph()
    for name in ("invoke", "ainvoke", "stream", "astream"):
        assert not hasattr(getattr(Pregel, name), "__wrapped__")
    for name in ("run_with_retry", "arun_with_retry"):
        assert not hasattr(getattr(_runner, name), "__wrapped__")
    assert not hasattr(BaseCallbackManager.__init__, "__wrapped__")
    from langchain_core.callbacks import manager

    assert not hasattr(manager.CallbackManager.on_chat_model_start, "__wrapped__")
    assert not hasattr(manager.AsyncCallbackManagerForToolRun.on_tool_end, "__wrapped__")
    assert BaseCallbackManager(handlers=[]).handlers == []
    linear(2).invoke({"x": 0})
    assert spans().all == []
    uninstrument_langgraph()  # harmless when not instrumented


def test_instrument_uninstrument_instrument_again(spans, provider):
    uninstrument_langgraph()
    instrument_langgraph(provider)
    linear(1, name="again").invoke({"x": 0})
    assert len(spans().named("again")) == 1


def test_invalid_options_raise_and_leave_nothing_wrapped():
    uninstrument_langgraph()
    with pytest.raises(ValueError):
        instrument_langgraph(max_payload_bytes=-1)
    assert not hasattr(Pregel.invoke, "__wrapped__")


class CountingPayload:
    """Counts every attempt to serialise it."""

    calls = 0

    def model_dump(self):
        CountingPayload.calls += 1
        return {"v": 1}

    def __repr__(self):
        CountingPayload.calls += 1
        return "CountingPayload()"


class Holder(TypedDict, total=False):
    payload: Any
    out: Any


def _payload_graph():
    g = StateGraph(Holder)
    g.add_node("touch", lambda s: {"out": s["payload"]})
    g.add_edge(START, "touch")
    g.add_edge("touch", END)
    return g.compile(name="counted")


def test_sampled_run_serialises_the_payload(spans):
    CountingPayload.calls = 0
    _payload_graph().invoke({"payload": CountingPayload()})
    assert CountingPayload.calls > 0
    assert spans().one("touch").attributes["input.value"] == '{"payload":{"v":1}}'


def test_non_recording_sampler_does_no_serialisation():
    uninstrument_langgraph()
    exporter = InMemorySpanExporter()
    tp = TracerProvider(sampler=ALWAYS_OFF)
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    instrument_langgraph(tp)
    CountingPayload.calls = 0
    _payload_graph().invoke({"payload": CountingPayload()})
    assert CountingPayload.calls == 0
    assert exporter.get_finished_spans() == ()


@pytest.mark.parametrize("disabled", ["noop-provider", "OTEL_SDK_DISABLED"])
def test_disabled_tracing_does_no_per_call_work(monkeypatch, disabled):
    uninstrument_langgraph()
    if disabled == "noop-provider":
        tp = NoOpTracerProvider()
    else:
        monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
        tp = TracerProvider()
    instrument_langgraph(tp)
    CountingPayload.calls = 0
    out = _payload_graph().invoke({"payload": CountingPayload()})
    assert isinstance(out["out"], CountingPayload)
    assert CountingPayload.calls == 0


class StartAttributes(SpanProcessor):
    """Keeps each span's attributes as they were at on_start (what span_start events carry)."""

    def __init__(self) -> None:
        self.at_start: dict[str, dict] = {}

    def on_start(self, span, parent_context=None) -> None:
        self.at_start[span.name] = dict(span.attributes or {})


@pytest.mark.parametrize(
    "sampler", [None, ParentBased(TraceIdRatioBased(1.0))], ids=["default", "ratio"]
)
def test_inputs_are_recorded_under_any_sampling_decision_path(sampler):
    """The default sampler lets payloads go into the start attributes; a sampler we cannot
    predict still gets them, right after the start."""
    uninstrument_langgraph()
    exporter = InMemorySpanExporter()
    tp = TracerProvider(sampler=sampler) if sampler else TracerProvider()
    starts = StartAttributes()
    tp.add_span_processor(starts)
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    instrument_langgraph(tp)
    linear(1, name="sampled").invoke({"x": 1}, {"configurable": {"thread_id": "t"}})
    finished = {s.name: s for s in exporter.get_finished_spans()}
    assert finished["sampled"].attributes["input.value"] == '{"x":1}'
    assert finished["sampled"].attributes["session.id"] == "t"
    assert finished["n1"].attributes["input.value"] == '{"x":1,"log":[]}'
    if sampler is None:  # in the span_start event too
        assert starts.at_start["sampled"]["input.value"] == '{"x":1}'
        assert starts.at_start["n1"]["input.value"] == '{"x":1,"log":[]}'


@pytest.mark.parametrize("how", ["api", "plain-key"])
def test_suppressed_instrumentation_makes_no_spans(spans, how):
    """``suppress_instrumentation()`` (and the legacy plain context key) turns the wrappers into
    call-throughs for the root and every node; tracing resumes once the block ends."""
    from opentelemetry import context
    from opentelemetry.instrumentation.utils import suppress_instrumentation

    graph = linear(2, name="quiet")
    if how == "api":
        with suppress_instrumentation():
            assert graph.invoke({"x": 0})["x"] == 2
    else:
        token = context.attach(context.set_value("suppress_instrumentation", True))
        try:
            assert graph.invoke({"x": 0})["x"] == 2
        finally:
            context.detach(token)
    assert spans().all == []
    graph.invoke({"x": 0})
    assert sorted(s.name for s in spans().all) == ["n1", "n2", "quiet"]
