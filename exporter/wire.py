"""Wire format v1: one span event <-> one Redis stream entry.

This module is the only contract between the exporter (app side) and the collector. It is
documented in ``docs/wire-format.md``; any change to field names or body keys needs a new
version number.

A stream entry has flat fields, so ``redis-cli XRANGE`` stays readable::

    v               b"1"
    type            b"span_start" | b"span_end" | b"init_request"
    project_id      the SwisperStudio project id (may be empty)
    trace_id        32 lowercase hex digits
    span_id         16 lowercase hex digits
    parent_span_id  16 lowercase hex digits, or empty for a root span
    body            one JSON object (orjson), described in docs/wire-format.md

``init_request`` control entries carry ``request_id`` instead of span ids and an optional body,
plus the original design's flat ``event_type`` and ``timestamp`` (ISO 8601 UTC) fields. An
``init_request`` written the original design's way (``event_type``, ``request_id``,
``timestamp``; no ``v``/``type``) is still accepted; legacy span events are not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

WIRE_VERSION = 1
SPAN_START = "span_start"
SPAN_END = "span_end"
INIT_REQUEST = "init_request"
EVENT_TYPES = frozenset({SPAN_START, SPAN_END, INIT_REQUEST})

_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_HEX16 = re.compile(r"^[0-9a-f]{16}$")
_ZERO_TRACE = "0" * 32
_ZERO_SPAN = "0" * 16

Fields = dict[bytes, bytes]


class WireFormatError(ValueError):
    """A stream entry that is not a valid v1 event (the collector dead-letters these)."""


@dataclass(slots=True)
class SpanEvent:
    """A decoded ``span_start`` or ``span_end`` entry.

    Not frozen: a frozen dataclass's ``__init__`` costs the collector ~1.5 us per event.
    """

    type: str
    project_id: str
    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    kind: str
    start_time_unix_nano: int
    end_time_unix_nano: int | None
    attributes: dict[str, Any] = field(default_factory=dict)
    status_code: str = "UNSET"
    status_message: str | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)
    resource: dict[str, Any] = field(default_factory=dict)
    scope: dict[str, Any] = field(default_factory=dict)
    trace_state: str | None = None
    version: int = WIRE_VERSION

    @property
    def is_end(self) -> bool:
        return self.type == SPAN_END


@dataclass(frozen=True, slots=True)
class InitRequest:
    """A decoded ``init_request`` control entry (end-to-end ping-pong)."""

    request_id: str
    project_id: str
    body: dict[str, Any] = field(default_factory=dict)
    version: int = WIRE_VERSION
    type: str = INIT_REQUEST


def format_trace_id(trace_id: int) -> str:
    return f"{trace_id:032x}"


def format_span_id(span_id: int) -> str:
    return f"{span_id:016x}"


# A pre-serialised JSON value (orjson >= 3.9): the resource and scope members are the same on
# every event of a process, so the exporter serialises them once and embeds the bytes.
_Fragment: Any = getattr(orjson, "Fragment", None)


def _dumps(obj: Any) -> bytes:
    try:
        # OTel attribute keys are strings; OPT_NON_STR_KEYS would cost ~15% on every event.
        return orjson.dumps(obj)
    except (TypeError, orjson.JSONEncodeError):
        # Integers beyond 64 bits, NaN-like oddities or foreign types in attribute values:
        # fall back to a slower path that stringifies what orjson refuses.
        return orjson.dumps(_sanitize(obj), option=orjson.OPT_NON_STR_KEYS)


def _sanitize(value: Any) -> Any:
    if _Fragment is not None and type(value) is _Fragment:  # already JSON (see json_fragment)
        return value
    if isinstance(value, Mapping):
        return {str(k): _sanitize(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_sanitize(v) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, (str, float)):
        return value
    if isinstance(value, int):
        return value if -(2**63) <= value < 2**64 else str(value)
    return str(value)


def encode_resource(resource: Any) -> dict[str, Any]:
    """The ``resource`` body member for an OTel ``Resource`` (cacheable per resource)."""
    if resource is None:
        return {}
    return {"attributes": dict(resource.attributes), "schema_url": resource.schema_url or None}


def encode_scope(scope: Any) -> dict[str, Any]:
    if scope is None:
        return {}
    return {"name": scope.name, "version": scope.version, "schema_url": scope.schema_url or None}


_TYPE_BYTES = {SPAN_START: b"span_start", SPAN_END: b"span_end"}


def json_fragment(value: Any) -> Any:
    """``value`` serialised once, to embed in later bodies (the value itself without Fragment)."""
    if _Fragment is None:
        return value
    return _Fragment(_dumps(value))


def _flat_fields(
    event_type: str, project_id: str, trace_id: int, span_id: int, parent_id: int | None
) -> Fields:
    # bytes %-formatting: the hex ids without an intermediate str (this runs per event).
    return {
        b"v": b"1",
        b"type": _TYPE_BYTES[event_type],
        b"project_id": project_id.encode(),
        b"trace_id": b"%032x" % trace_id,
        b"span_id": b"%016x" % span_id,
        b"parent_span_id": b"%016x" % parent_id if parent_id else b"",
    }


def enum_name(member: Any) -> str:
    """``member.name`` without Enum's ``name`` property (a Python call) on the hot path."""
    try:
        return member._name_
    except AttributeError:
        return member.name


_STATUS_WITHOUT_MESSAGE: dict[Any, Any] = {}


def _status_of(status: Any) -> Any:
    """The ``status`` member; without a message it is one of three constants, serialised once."""
    code = enum_name(status.status_code)
    if status.description is None:
        try:
            return _STATUS_WITHOUT_MESSAGE[code]
        except KeyError:
            fragment = json_fragment({"code": code, "message": None})
            _STATUS_WITHOUT_MESSAGE[code] = fragment
            return fragment
    return {"code": code, "message": status.description}


def _attributes_of(owner: Any) -> dict[str, Any]:
    """The attributes of a span, event or link as a plain dict.

    The SDK keeps them in ``BoundedAttributes`` around a dict, made immutable when the span
    ends; serialising that dict directly skips a copy through the Mapping protocol.
    """
    attributes = getattr(owner, "_attributes", None)
    if attributes is None:
        attributes = owner.attributes
    inner = getattr(attributes, "_dict", None)
    if type(inner) is dict:  # checked first: BoundedAttributes.__len__ is a Python call
        return inner
    return dict(attributes) if attributes else {}


def encode_span_start(
    *,
    project_id: str,
    trace_id: int,
    span_id: int,
    parent_span_id: int | None,
    name: str,
    kind: str,
    start_time_unix_nano: int,
    attributes: Mapping[str, Any] | None,
    resource: Any = None,
    scope: Any = None,
    trace_state: str | None = None,
) -> Fields:
    """Encode a ``span_start`` event from a snapshot taken in ``on_start``.

    ``resource`` and ``scope``: dicts or ``json_fragment``s (see ``encode_span_end``).
    """
    body = {
        "name": name,
        "kind": kind,
        "start_time_unix_nano": start_time_unix_nano,
        "end_time_unix_nano": None,
        "attributes": attributes if type(attributes) is dict else dict(attributes or {}),
        "resource": resource or {},
        "scope": scope or {},
    }
    if trace_state:
        body["trace_state"] = trace_state
    fields = _flat_fields(SPAN_START, project_id, trace_id, span_id, parent_span_id)
    fields[b"body"] = _dumps(body)
    return fields


def encode_span_end(
    span: ReadableSpan,
    *,
    project_id: str,
    resource: Any = None,
    scope: Any = None,
) -> Fields:
    """Encode a finished OTel span as a ``span_end`` event.

    ``resource`` and ``scope`` may be passed pre-encoded, as dicts or as ``json_fragment``s
    (the exporter caches them per object).
    """
    try:
        # The SDK's ReadableSpan keeps its state in these slots; its properties copy the
        # events and links into tuples and wrap attributes on every call (this runs per event).
        ctx, parent, status = span._context, span._parent, span._status
        events, links = span._events, span._links
        name, kind, start, end = span._name, span._kind, span._start_time, span._end_time
    except AttributeError:  # a ReadableSpan look-alike: the public API
        ctx, parent, status = span.context, span.parent, span.status
        events, links = span.events, span.links
        name, kind, start, end = span.name, span.kind, span.start_time, span.end_time
    body: dict[str, Any] = {
        "name": name,
        "kind": enum_name(kind),
        "start_time_unix_nano": start,
        "end_time_unix_nano": end,
        "attributes": _attributes_of(span),
        "status": _status_of(status),
        "events": [
            {
                "name": ev.name,
                "time_unix_nano": ev.timestamp,
                "attributes": _attributes_of(ev),
            }
            for ev in events
        ]
        if events
        else [],
        "links": [
            {
                "trace_id": format_trace_id(link.context.trace_id),
                "span_id": format_span_id(link.context.span_id),
                "attributes": _attributes_of(link),
            }
            for link in links
        ]
        if links
        else [],
        "resource": resource if resource is not None else encode_resource(span.resource),
        "scope": scope if scope is not None else encode_scope(span.instrumentation_scope),
    }
    if ctx.trace_state:
        body["trace_state"] = ctx.trace_state.to_header()
    fields = _flat_fields(
        SPAN_END, project_id, ctx.trace_id, ctx.span_id, parent.span_id if parent else None
    )
    fields[b"body"] = _dumps(body)
    return fields


def encode_init_request(request_id: str, project_id: str = "", **extra: Any) -> Fields:
    """Encode an ``init_request`` control event (the collector answers via the ack key).

    ``event_type`` and ``timestamp`` repeat the original design's flat fields, so tools written
    against it can read the entry; ``decode_entry`` does not need them.
    """
    return {
        b"v": b"1",
        b"type": INIT_REQUEST.encode(),
        b"event_type": INIT_REQUEST.encode(),
        b"timestamp": datetime.now(timezone.utc).isoformat().encode(),
        b"project_id": project_id.encode(),
        b"request_id": request_id.encode(),
        b"body": _dumps(extra),
    }


def _text(fields: Mapping[str, Any], key: str, *, required: bool = True) -> str:
    value = fields.get(key)
    if value is None:
        if required:
            raise WireFormatError(f"missing field {key!r}")
        return ""
    if isinstance(value, bytes):
        try:
            return value.decode()
        except UnicodeDecodeError as exc:
            raise WireFormatError(f"field {key!r} is not UTF-8") from exc
    return str(value)


def _int_or_none(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise WireFormatError(f"body.{name} must be an integer (unix ns), got {value!r}")
    return value


def _decode_legacy(fields: Mapping[str, Any]) -> InitRequest:
    """An entry of the original design (no ``v``): only its ``init_request`` is understood."""
    event_type = _text(fields, "event_type", required=False)
    if event_type != INIT_REQUEST:
        raise WireFormatError(
            f"unsupported wire version (no 'v' field; legacy event_type {event_type!r})"
        )
    request_id = _text(fields, "request_id")
    if not request_id:
        raise WireFormatError("init_request without request_id")
    project_id = _text(fields, "project_id", required=False)
    return InitRequest(request_id=request_id, project_id=project_id, body={})


_HEX32_B = re.compile(rb"^[0-9a-f]{32}$")
_HEX16_B = re.compile(rb"^[0-9a-f]{16}$")
_ZERO_TRACE_B = _ZERO_TRACE.encode()
_ZERO_SPAN_B = _ZERO_SPAN.encode()
_SPAN_TYPES_B = {b"span_start": SPAN_START, b"span_end": SPAN_END}


def _decode_span_fast(fields: Mapping[Any, Any]) -> SpanEvent | None:
    """The common case (bytes keys and values of a well-formed v1 span event) without the
    key normalisation and per-field helpers: ~2x faster. None when anything is unusual; the
    general path then decides (same result, same error messages)."""
    try:
        if fields[b"v"] != b"1":
            return None
        event_type = _SPAN_TYPES_B.get(fields[b"type"])
        trace_id = fields[b"trace_id"]
        span_id = fields[b"span_id"]
        parent = fields.get(b"parent_span_id", b"")
        project_id = fields.get(b"project_id", b"").decode()
        body = orjson.loads(fields[b"body"])
    except (KeyError, TypeError, AttributeError, UnicodeDecodeError, orjson.JSONDecodeError):
        return None
    if (
        event_type is None
        or type(body) is not dict
        or type(trace_id) is not bytes
        or type(span_id) is not bytes
        or type(parent) is not bytes
        or not _HEX32_B.match(trace_id)
        or trace_id == _ZERO_TRACE_B
        or not _HEX16_B.match(span_id)
        or span_id == _ZERO_SPAN_B
        or (parent and not _HEX16_B.match(parent))
    ):
        return None
    name = body.get("name")
    start = body.get("start_time_unix_nano")
    end = body.get("end_time_unix_nano")
    attributes = body.get("attributes") or {}
    status = body.get("status") or {}
    events = body.get("events") or []
    links = body.get("links") or []
    if (
        type(name) is not str
        or type(start) is not int
        or not (type(end) is int or (end is None and event_type == SPAN_START))
        or type(attributes) is not dict
        or type(status) is not dict
        or type(events) is not list
        or type(links) is not list
    ):
        return None
    return SpanEvent(
        event_type,
        project_id,
        trace_id.decode(),
        span_id.decode(),
        parent.decode() or None,
        name,
        str(body.get("kind") or "INTERNAL"),
        start,
        end,
        attributes,
        str(status.get("code") or "UNSET"),
        status.get("message"),
        events,
        links,
        body.get("resource") or {},
        body.get("scope") or {},
        body.get("trace_state"),
    )


def decode_entry(fields: Mapping[Any, Any]) -> SpanEvent | InitRequest:
    """Decode one stream entry (bytes or str keys). Raises ``WireFormatError`` if malformed."""
    if type(fields) is dict and b"body" in fields:
        event = _decode_span_fast(fields)
        if event is not None:
            return event
    try:
        fields = {k.decode() if isinstance(k, bytes) else k: v for k, v in fields.items()}
    except (AttributeError, UnicodeDecodeError) as exc:
        raise WireFormatError("stream entry fields must be a mapping with UTF-8 keys") from exc
    if "v" not in fields and "type" not in fields:
        return _decode_legacy(fields)
    version = _text(fields, "v")
    if version != "1":
        raise WireFormatError(f"unsupported wire version {version!r}")
    event_type = _text(fields, "type")
    if event_type not in EVENT_TYPES:
        raise WireFormatError(f"unknown event type {event_type!r}")
    project_id = _text(fields, "project_id", required=False)
    raw_body = fields.get("body")
    try:
        body = orjson.loads(raw_body) if raw_body else {}
    except orjson.JSONDecodeError as exc:
        raise WireFormatError(f"body is not valid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise WireFormatError("body must be a JSON object")

    if event_type == INIT_REQUEST:
        request_id = _text(fields, "request_id")
        if not request_id:
            raise WireFormatError("init_request without request_id")
        return InitRequest(request_id=request_id, project_id=project_id, body=body)

    trace_id = _text(fields, "trace_id")
    span_id = _text(fields, "span_id")
    parent = _text(fields, "parent_span_id", required=False) or None
    if not _HEX32.match(trace_id) or trace_id == _ZERO_TRACE:
        raise WireFormatError(f"trace_id must be 32 lowercase hex digits, got {trace_id!r}")
    if not _HEX16.match(span_id) or span_id == _ZERO_SPAN:
        raise WireFormatError(f"span_id must be 16 lowercase hex digits, got {span_id!r}")
    if parent is not None and not _HEX16.match(parent):
        raise WireFormatError(f"parent_span_id must be 16 hex digits, got {parent!r}")

    name = body.get("name")
    if not isinstance(name, str):
        raise WireFormatError("body.name must be a string")
    start = _int_or_none(body.get("start_time_unix_nano"), "start_time_unix_nano")
    if start is None:
        raise WireFormatError("body.start_time_unix_nano is required")
    end = _int_or_none(body.get("end_time_unix_nano"), "end_time_unix_nano")
    if event_type == SPAN_END and end is None:
        raise WireFormatError("span_end without end_time_unix_nano")
    attributes = body.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise WireFormatError("body.attributes must be an object")
    status = body.get("status") or {}
    if not isinstance(status, dict):
        raise WireFormatError("body.status must be an object")
    events = body.get("events") or []
    links = body.get("links") or []
    if not isinstance(events, (list, tuple)) or not isinstance(links, (list, tuple)):
        raise WireFormatError("body.events and body.links must be arrays")
    return SpanEvent(
        type=event_type,
        project_id=project_id,
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=name,
        kind=str(body.get("kind") or "INTERNAL"),
        start_time_unix_nano=start,
        end_time_unix_nano=end,
        attributes=attributes,
        status_code=str(status.get("code") or "UNSET"),
        status_message=status.get("message"),
        events=list(events),
        links=list(links),
        resource=body.get("resource") or {},
        scope=body.get("scope") or {},
        trace_state=body.get("trace_state"),
    )


# Redis keys of the health protocol (consumer heartbeat, init_request ping-pong, write check).
# They mirror the original design's names; the heartbeat is one key per consumer, since a
# single key let several collectors overwrite each other.
HEARTBEAT_PREFIX = "swisper_studio:consumer:heartbeat:"
LEGACY_HEARTBEAT_KEY = "swisper_studio:consumer:heartbeat"
"""The original design's single heartbeat key; readers accept it besides the per-consumer keys."""
INIT_ACK_PREFIX = "swisper_studio:init_ack:"
HEALTH_CHECK_STREAM = "observability:health_check"


def heartbeat_key(group: str, consumer: str) -> str:
    """Key a collector refreshes every few seconds (JSON value, TTL)."""
    return f"{HEARTBEAT_PREFIX}{group}:{consumer}"


def init_ack_key(request_id: str) -> str:
    """Key a collector sets when it has processed the ``init_request`` with this id."""
    return f"{INIT_ACK_PREFIX}{request_id}"
