"""Wire format v1 without Redis: encode -> decode round trips and malformed entries."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Status, StatusCode
from swisper_studio.exporter.wire import (
    SPAN_END,
    SPAN_START,
    WireFormatError,
    decode_entry,
    encode_init_request,
    encode_span_end,
    encode_span_start,
)


def test_init_request_round_trips():
    event = decode_entry(encode_init_request("abc", "proj"))
    assert event.request_id == "abc"
    assert event.project_id == "proj"


def _ended_span():
    provider = TracerProvider(
        resource=Resource.create({"service.name": "w"}), shutdown_on_exit=False
    )
    tracer = provider.get_tracer("scope", "9")
    with tracer.start_as_current_span("parent"), tracer.start_as_current_span("child") as span:
        span.set_attribute("k", [1, 2])
        span.set_status(Status(StatusCode.ERROR, "bad"))
    return span


def test_span_end_round_trips_with_bytes_or_str_keys():
    span = _ended_span()
    fields = encode_span_end(span, project_id="p")
    for entry in (fields, {k.decode(): v.decode() for k, v in fields.items()}):
        event = decode_entry(entry)
        assert event.type == SPAN_END and event.is_end
        assert event.span_id == f"{span.context.span_id:016x}"
        assert event.parent_span_id == f"{span.parent.span_id:016x}"
        assert (event.attributes, event.status_code, event.status_message) == (
            {"k": [1, 2]},
            "ERROR",
            "bad",
        )
        assert event.resource["attributes"]["service.name"] == "w"
        assert event.scope["version"] == "9"


def test_span_start_of_a_root_span_has_no_parent_and_no_end():
    fields = encode_span_start(
        project_id="",
        trace_id=1,
        span_id=2,
        parent_span_id=None,
        name="root",
        kind="SERVER",
        start_time_unix_nano=5,
        attributes={"a": "b"},
    )
    assert fields[b"parent_span_id"] == b""
    event = decode_entry(fields)
    assert (event.type, event.trace_id, event.span_id) == (SPAN_START, f"{1:032x}", f"{2:016x}")
    assert (event.parent_span_id, event.end_time_unix_nano, event.kind) == (None, None, "SERVER")


def test_values_orjson_refuses_are_written_as_strings():
    fields = encode_span_start(
        project_id="p",
        trace_id=1,
        span_id=2,
        parent_span_id=None,
        name="n",
        kind="INTERNAL",
        start_time_unix_nano=1,
        attributes={"huge": 2**70, "odd": object()},
    )
    attributes = decode_entry(fields).attributes
    assert attributes["huge"] == str(2**70)
    assert attributes["odd"].startswith("<object")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({b"v": b"2"}, "unsupported wire version"),
        ({b"type": b"span_middle"}, "unknown event type"),
        ({b"trace_id": b"0" * 32}, "trace_id"),
        ({b"span_id": b"XYZ"}, "span_id"),
        ({b"body": b"not json"}, "not valid JSON"),
        ({b"body": b"[]"}, "JSON object"),
        ({b"body": b'{"name": "x"}'}, "start_time_unix_nano"),
    ],
)
def test_malformed_entries_raise_wire_format_error(change, message):
    fields = encode_span_end(_ended_span(), project_id="p")
    fields.update(change)
    with pytest.raises(WireFormatError, match=message):
        decode_entry(fields)
