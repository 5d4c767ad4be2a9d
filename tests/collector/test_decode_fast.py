"""wire.decode_entry's fast path (bytes fields) gives exactly what the general path gives."""

from __future__ import annotations

import orjson
import pytest
from swisper_studio.exporter import wire

TRACE = "0af7651916cd43dd8448eb211c80319c"
SPAN = "b7ad6b7169203331"
PARENT = "00f067aa0ba902b7"


def _fields(**override: object) -> dict[bytes, bytes]:
    body = {
        "name": "llm",
        "kind": "CLIENT",
        "start_time_unix_nano": 1,
        "end_time_unix_nano": 2,
        "attributes": {"a": 1, "input.value": '{"q": 1}'},
        "status": {"code": "ERROR", "message": "boom"},
        "events": [{"name": "exception", "time_unix_nano": 2, "attributes": {}}],
        "links": [],
        "resource": {"attributes": {"service.name": "s"}},
        "scope": {"name": "x"},
        "trace_state": "k=v",
    }
    fields = {
        b"v": b"1",
        b"type": b"span_end",
        b"project_id": b"p",
        b"trace_id": TRACE.encode(),
        b"span_id": SPAN.encode(),
        b"parent_span_id": PARENT.encode(),
    }
    for key, value in override.items():
        if key.startswith("body_"):
            if value is None:
                body.pop(key[5:], None)
            else:
                body[key[5:]] = value
        elif value is None:
            fields.pop(key.encode(), None)
        else:
            fields[key.encode()] = value  # type: ignore[assignment]
    fields[b"body"] = override.get("body") or orjson.dumps(body)  # type: ignore[assignment]
    return fields


def _general(fields: dict[bytes, bytes]) -> object:
    """The general path: str keys never take the fast path."""
    try:
        return wire.decode_entry({k.decode(): v for k, v in fields.items()})
    except wire.WireFormatError as exc:
        return ("error", str(exc))


def _fast(fields: dict[bytes, bytes]) -> object:
    try:
        return wire.decode_entry(fields)
    except wire.WireFormatError as exc:
        return ("error", str(exc))


@pytest.mark.parametrize(
    "override",
    [
        {},
        {"type": b"span_start", "body_end_time_unix_nano": None, "body_status": None},
        {"parent_span_id": b""},
        {"parent_span_id": None, "project_id": None},
        {"body_attributes": None, "body_events": None, "body_links": None, "body_kind": None},
        {"v": b"2"},
        {"type": b"span_middle"},
        {"type": b"init_request", "request_id": b"r1"},
        {"trace_id": b"0" * 32},
        {"trace_id": TRACE.upper().encode()},
        {"span_id": b"0" * 16},
        {"span_id": b"xyz"},
        {"parent_span_id": b"not-hex"},
        {"project_id": b"\xff"},
        {"trace_id": b"\xff" * 32},
        {"body": b"not json"},
        {"body": b"[1, 2]"},
        {"body_name": 3},
        {"body_start_time_unix_nano": True},
        {"body_start_time_unix_nano": None},
        {"body_end_time_unix_nano": None},
        {"body_end_time_unix_nano": "2"},
        {"body_attributes": [1]},
        {"body_status": "ok"},
        {"body_events": {"a": 1}},
        {"body_links": "x"},
    ],
)
def test_fast_path_matches_general_path(override: dict[str, object]) -> None:
    fields = _fields(**override)
    assert _fast(fields) == _general(fields)


def test_non_mapping_still_a_wire_format_error() -> None:
    with pytest.raises(wire.WireFormatError):
        wire.decode_entry(None)  # type: ignore[arg-type]


def test_well_formed_span_takes_the_fast_path() -> None:
    event = wire._decode_span_fast(_fields())
    assert isinstance(event, wire.SpanEvent)
    assert (event.trace_id, event.span_id, event.parent_span_id) == (TRACE, SPAN, PARENT)
