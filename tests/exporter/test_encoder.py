"""The publisher's encoder gives exactly the bytes of the plain wire encoders (no Redis needed).

The encoder caches the resource and scope members already serialised (``orjson.Fragment``) and
reads the SDK span's slots; neither may change a byte of what the collector decodes.
"""

from __future__ import annotations

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from opentelemetry.trace.span import TraceState
from swisper_studio.exporter import wire
from swisper_studio.exporter._encoder import SpanEventEncoder, snapshot_start


class _Capture(SpanProcessor):
    def __init__(self) -> None:
        self.items: list = []

    def on_start(self, span, parent_context=None) -> None:
        self.items.append(snapshot_start(span))

    def on_end(self, span: ReadableSpan) -> None:
        self.items.append(span)


def _captured() -> list:
    capture = _Capture()
    provider = TracerProvider(
        resource=Resource.create({"service.name": "enc", "n": 3}, schema_url="https://s/1"),
        shutdown_on_exit=False,
    )
    provider.add_span_processor(capture)
    tracer = provider.get_tracer("scope.a", "1.0", schema_url="https://scope")
    other = provider.get_tracer("scope.b")
    with tracer.start_as_current_span("root", kind=SpanKind.SERVER, attributes={"a": [1, 2]}):
        with other.start_as_current_span("child", attributes={"big": 2**70}) as child:
            child.add_event("ev", {"k": "v"})
            child.set_status(Status(StatusCode.ERROR, "boom"))
        with tracer.start_as_current_span("ok") as ok:
            ok.set_status(Status(StatusCode.OK))
    linked = tracer.start_span("linked", links=[Link(child.get_span_context(), {"l": 1})])
    linked.end()
    state_parent = child.get_span_context()
    with tracer.start_as_current_span("plain"):
        pass
    provider.shutdown()
    assert state_parent.trace_state is not None
    return capture.items


def _reference(item, project_id: str) -> wire.Fields:
    """The same event through the public wire encoders, with plain dicts."""
    if type(item) is tuple:
        ctx, parent, name, kind, start, attrs, resource, scope = item
        state = ctx.trace_state
        return wire.encode_span_start(
            project_id=project_id,
            trace_id=ctx.trace_id,
            span_id=ctx.span_id,
            parent_span_id=parent.span_id if parent else None,
            name=name,
            kind=kind.name,
            start_time_unix_nano=start,
            attributes=attrs,
            resource=wire.encode_resource(resource),
            scope=wire.encode_scope(scope),
            trace_state=state.to_header() if state else None,
        )
    return wire.encode_span_end(item, project_id=project_id)


@pytest.mark.parametrize("fragments", [True, False], ids=["orjson-fragment", "no-fragment"])
def test_encoder_bytes_equal_the_plain_wire_encoding(monkeypatch, fragments):
    if not fragments:  # an orjson without Fragment: the cached members stay dicts
        monkeypatch.setattr(wire, "_Fragment", None)
    items = _captured()
    encoder = SpanEventEncoder("proj")
    assert len(items) == 10
    for _ in range(2):  # the second pass is served from the caches
        for item in items:
            assert encoder.encode(item) == _reference(item, "proj")


def test_encoded_events_decode_with_every_member():
    encoder = SpanEventEncoder("proj")
    events = [wire.decode_entry(encoder.encode(item)) for item in _captured()]
    ends = {e.name: e for e in events if e.is_end}
    assert ends["root"].kind == "SERVER"
    assert ends["root"].resource["attributes"]["service.name"] == "enc"
    assert ends["root"].resource["schema_url"] == "https://s/1"
    assert ends["root"].scope == {
        "name": "scope.a",
        "version": "1.0",
        "schema_url": "https://scope",
    }
    assert ends["child"].scope["name"] == "scope.b"
    assert ends["child"].attributes["big"] == str(2**70)  # the sanitising fallback still runs
    assert (ends["child"].status_code, ends["child"].status_message) == ("ERROR", "boom")
    assert ends["child"].events[0]["attributes"] == {"k": "v"}
    assert (ends["ok"].status_code, ends["ok"].status_message) == ("OK", None)
    assert ends["linked"].links[0]["span_id"] == ends["child"].span_id
    assert ends["plain"].status_code == "UNSET"


def test_trace_state_is_encoded():
    encoder = SpanEventEncoder("p")
    provider = TracerProvider(shutdown_on_exit=False)
    capture = _Capture()
    provider.add_span_processor(capture)
    from opentelemetry import trace

    parent = trace.SpanContext(
        trace_id=0x1234,
        span_id=0x99,
        is_remote=True,
        trace_flags=trace.TraceFlags(1),
        trace_state=TraceState([("vendor", "x")]),
    )
    ctx = trace.set_span_in_context(trace.NonRecordingSpan(parent))
    provider.get_tracer("t").start_span("s", context=ctx).end()
    provider.shutdown()
    start, end = (wire.decode_entry(encoder.encode(item)) for item in capture.items)
    assert start.trace_state == end.trace_state == "vendor=x"
    assert start.parent_span_id == f"{0x99:016x}"
