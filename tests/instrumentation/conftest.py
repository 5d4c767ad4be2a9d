"""Fixtures: an in-memory OTel pipeline and LangGraph instrumented on it for every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from swisper_studio.instrumentation import instrument_langgraph, uninstrument_langgraph


@pytest.fixture
def exporter() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def provider(exporter: InMemorySpanExporter) -> Iterator[TracerProvider]:
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    yield tp
    tp.shutdown()


@pytest.fixture(autouse=True)
def instrumented(provider: TracerProvider) -> Iterator[None]:
    uninstrument_langgraph()
    instrument_langgraph(provider)
    yield
    uninstrument_langgraph()


class Spans:
    """Finished spans with tree helpers (structure is checked through parent span ids)."""

    def __init__(self, spans: tuple[ReadableSpan, ...]) -> None:
        self.all = list(spans)

    def named(self, name: str) -> list[ReadableSpan]:
        return [s for s in self.all if s.name == name]

    def one(self, name: str) -> ReadableSpan:
        found = self.named(name)
        assert len(found) == 1, f"expected one span {name!r}, got {[s.name for s in self.all]}"
        return found[0]

    def roots(self) -> list[ReadableSpan]:
        return [s for s in self.all if s.parent is None]

    def children(self, parent: ReadableSpan) -> list[ReadableSpan]:
        pid = parent.context.span_id
        return [s for s in self.all if s.parent is not None and s.parent.span_id == pid]

    def parent_of(self, span: ReadableSpan) -> ReadableSpan | None:
        if span.parent is None:
            return None
        for s in self.all:
            if s.context.span_id == span.parent.span_id:
                return s
        raise AssertionError(f"parent of {span.name} not among finished spans")


@pytest.fixture
def spans(exporter: InMemorySpanExporter):
    """Call ``spans()`` to get the finished spans so far."""
    return lambda: Spans(exporter.get_finished_spans())
