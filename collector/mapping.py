"""Span events -> ``observations`` and ``traces`` rows: pure functions, no I/O.

Every span event becomes one observation row and one (partial) trace row. Rows of the same
span or trace are folded with :func:`fold_observation` / :func:`fold_trace`, which are
commutative and idempotent, and ``store.py`` applies exactly the same rules in SQL when a row
meets the one already stored. So the tables end up identical whatever the order or number of
deliveries of a trace's events. The rules:

* observation: ``has_start`` / ``has_end`` are OR'ed; every other field prefers the value of
  the ``span_end`` half and falls back to the ``span_start`` half where the end has none;
  ``metadata`` is ``start || end`` (end keys win); ``level`` is the worst seen.
* trace: ``start_time`` is the earliest start, ``end_time`` the latest end of any span,
  ``level`` the worst observation level; the root span (no parent) fills the root fields
  (name, input, output, session, user, tags, metadata, status), its end winning over its start.

Times stay integers (unix nanoseconds) in the rows; the store converts them.
docs/data-model.md lists field by field which attributes are read.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

import orjson
from swisper_studio.exporter.wire import SpanEvent

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

DEFAULT_PROJECT_ID = "default"

OBSERVATION_TYPES = ("SPAN", "GENERATION", "EVENT", "AGENT", "TOOL", "CHAIN", "RETRIEVER")
LEVELS = ("DEBUG", "DEFAULT", "WARNING", "ERROR")
LEVEL_RANK = {level: rank for rank, level in enumerate(LEVELS)}
RUNNING = "RUNNING"

Row = dict[str, Any]

# openinference.span.kind / langfuse.observation.type / traceloop.span.kind -> our type
_KIND_TYPES = {
    "LLM": "GENERATION",
    "GENERATION": "GENERATION",
    "EMBEDDING": "GENERATION",
    "TOOL": "TOOL",
    "AGENT": "AGENT",
    "CHAIN": "CHAIN",
    "RETRIEVER": "RETRIEVER",
    "RERANKER": "RETRIEVER",
    "EVENT": "EVENT",
    "SPAN": "SPAN",
    "WORKFLOW": "CHAIN",
    "TASK": "SPAN",
}
# gen_ai.operation.name / llm.request.type -> our type
_OPERATION_TYPES = {
    "chat": "GENERATION",
    "text_completion": "GENERATION",
    "completion": "GENERATION",
    "generate_content": "GENERATION",
    "embeddings": "GENERATION",
    "embedding": "GENERATION",
    "execute_tool": "TOOL",
    "invoke_agent": "AGENT",
    "create_agent": "AGENT",
}
_FIRST_TOKEN_EVENTS = frozenset(
    {"first_token", "gen_ai.first_token", "gen_ai.content.first_token", "First Token Stream Event"}
)
# time-to-first-token attributes and their unit in nanoseconds
_TTFT_KEYS = (("gen_ai.response.time_to_first_token", 1e9), ("llm.time_to_first_token_ms", 1e6))
_MODEL_KEYS = (
    "gen_ai.response.model",
    "gen_ai.request.model",
    "llm.model_name",
    "langfuse.observation.model.name",
    "llm.request.model",
)
_INPUT_TOKEN_KEYS = (
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.prompt_tokens",
    "llm.token_count.prompt",
    "llm.usage.prompt_tokens",
)
_OUTPUT_TOKEN_KEYS = (
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.token_count.completion",
    "llm.usage.completion_tokens",
)
_TOTAL_TOKEN_KEYS = ("gen_ai.usage.total_tokens", "llm.token_count.total", "llm.usage.total_tokens")
_MODEL_PARAMETER_KEYS = {
    "gen_ai.request.temperature": "temperature",
    "gen_ai.request.max_tokens": "max_tokens",
    "gen_ai.request.top_p": "top_p",
    "gen_ai.request.top_k": "top_k",
    "gen_ai.request.frequency_penalty": "frequency_penalty",
    "gen_ai.request.presence_penalty": "presence_penalty",
    "gen_ai.request.stop_sequences": "stop_sequences",
    "gen_ai.request.seed": "seed",
}
_SESSION_KEYS = ("session.id", "langfuse.session.id", "gen_ai.conversation.id")
_USER_KEYS = ("user.id", "langfuse.user.id", "enduser.id")
_TAG_KEYS = ("tag.tags", "langfuse.trace.tags")
_INPUT_KEYS = (
    "input.value",
    "langfuse.observation.input",
    "gen_ai.input.messages",
    "gen_ai.prompt",
)
_OUTPUT_KEYS = (
    "output.value",
    "langfuse.observation.output",
    "gen_ai.output.messages",
    "gen_ai.completion",
)
_INDEXED_PREFIXES = {
    "input": ("gen_ai.prompt.", "llm.input_messages."),
    "output": ("gen_ai.completion.", "llm.output_messages."),
}
_ALL_INDEXED_PREFIXES = tuple(p for ps in _INDEXED_PREFIXES.values() for p in ps)
_USAGE_KEYS = frozenset(
    {
        *_INPUT_TOKEN_KEYS,
        *_OUTPUT_TOKEN_KEYS,
        *_TOTAL_TOKEN_KEYS,
        "langfuse.observation.usage_details",
    }
)
_PARAMETER_KEYS = frozenset(
    {"llm.invocation_parameters", "langfuse.observation.model.parameters", *_MODEL_PARAMETER_KEYS}
)
# Attributes that become columns and are therefore not repeated in metadata.
_CONSUMED = frozenset(
    {
        "openinference.span.kind",
        "langfuse.observation.type",
        "langfuse.observation.level",
        "langfuse.observation.status_message",
        "langfuse.observation.completion_start_time",
        "langfuse.observation.model.parameters",
        "langfuse.observation.usage_details",
        "llm.invocation_parameters",
        "input.mime_type",
        "output.mime_type",
        "langgraph.node",
        "langgraph.step",
        "gen_ai.response.time_to_first_token",
        "llm.time_to_first_token_ms",
        *_MODEL_KEYS,
        *_INPUT_TOKEN_KEYS,
        *_OUTPUT_TOKEN_KEYS,
        *_TOTAL_TOKEN_KEYS,
        *_MODEL_PARAMETER_KEYS,
        *_INPUT_KEYS,
        *_OUTPUT_KEYS,
    }
)


# ---------------------------------------------------------------------------------------------
# small attribute readers


def _first(attributes: Mapping[str, Any], keys: Iterable[str]) -> Any:
    for key in keys:
        value = attributes.get(key)
        if value is not None and value != "":
            return value
    return None


def _parse_json(value: Any) -> Any:
    """A JSON text parsed, anything else (or unparsable text) unchanged."""
    if isinstance(value, str) and value[:1] in ("{", "[", '"'):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return value
    return value


def _payload(attributes: Mapping[str, Any], keys: Iterable[str], mime_key: str) -> Any:
    """input/output: JSON-decoded when declared JSON (or when it looks like JSON), else text."""
    for key in keys:
        value = attributes.get(key)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            return list(value) if isinstance(value, tuple) else value
        mime = attributes.get(mime_key) if key.endswith(".value") else None
        if mime is None or "json" in str(mime):
            return _parse_json(value)
        return value
    return None


def _indexed_messages(attributes: Mapping[str, Any], prefixes: Iterable[str]) -> Any:
    """``gen_ai.prompt.0.role`` / ``llm.input_messages.0.message.content`` -> list of dicts."""
    for prefix in prefixes:
        messages: dict[int, dict[str, Any]] = {}
        for key, value in attributes.items():
            if not key.startswith(prefix):
                continue
            index, _, field = key[len(prefix) :].partition(".")
            if not index.isdigit() or not field:
                continue
            messages.setdefault(int(index), {})[field.removeprefix("message.")] = value
        if messages:
            return [messages[i] for i in sorted(messages)]
    return None


def _int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _level(value: Any) -> str | None:
    if isinstance(value, str) and value.upper() in LEVEL_RANK:
        return value.upper()
    return None


def _dict_attr(value: Any) -> dict[str, Any] | None:
    parsed = _parse_json(value)
    return parsed if isinstance(parsed, dict) else None


def _tags(value: Any) -> list[str] | None:
    value = _parse_json(value)
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, (list, tuple)):
        return sorted({str(tag) for tag in value})
    return None


def _iso_to_ns(value: Any) -> int | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int(value) if value > 1e15 else int(value * 1e9)
    if isinstance(value, str):
        try:
            return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1e9)
        except ValueError:
            return None
    return None


# ---------------------------------------------------------------------------------------------
# field extractors


def observation_type(attributes: Mapping[str, Any]) -> str:
    """Langfuse type from langfuse.*, OpenInference, gen_ai.* or OpenLLMetry attributes.

    Precedence: an explicit kind (langfuse/OpenInference/OpenLLMetry), then
    ``gen_ai.operation.name``, then ``gen_ai.tool.name`` (TOOL), then a model name (GENERATION).
    """
    for key in ("langfuse.observation.type", "openinference.span.kind", "traceloop.span.kind"):
        value = attributes.get(key)
        if isinstance(value, str) and value.upper() in _KIND_TYPES:
            return _KIND_TYPES[value.upper()]
    for key in ("gen_ai.operation.name", "llm.request.type"):
        value = attributes.get(key)
        if isinstance(value, str) and value.lower() in _OPERATION_TYPES:
            return _OPERATION_TYPES[value.lower()]
    if attributes.get("gen_ai.tool.name") is not None:  # a tool span may also name its model
        return "TOOL"
    if _first(attributes, _MODEL_KEYS) is not None:
        return "GENERATION"
    return "SPAN"


def observation_level(event: SpanEvent) -> str:
    """ERROR for status ERROR, WARNING for a recorded exception without ERROR status."""
    level = "ERROR" if event.status_code == "ERROR" else "DEFAULT"
    explicit = _level(event.attributes.get("langfuse.observation.level"))
    if explicit and LEVEL_RANK[explicit] > LEVEL_RANK[level]:
        level = explicit
    if level == "DEFAULT" and any(ev.get("name") == "exception" for ev in event.events):
        level = "WARNING"
    return level


def status_message(event: SpanEvent) -> str | None:
    message = event.status_message or event.attributes.get("langfuse.observation.status_message")
    if message:
        return str(message)
    if event.status_code == "ERROR":
        for ev in event.events:
            if ev.get("name") == "exception":
                attrs = ev.get("attributes") or {}
                kind, text = attrs.get("exception.type"), attrs.get("exception.message")
                if kind or text:
                    return f"{kind}: {text}" if kind and text else str(kind or text)
    return None


def usage(attributes: Mapping[str, Any]) -> dict[str, Any] | None:
    """``{"input", "output", "total", ...extra gen_ai.usage.* details}`` or None."""
    if attributes.keys().isdisjoint(_USAGE_KEYS):  # most spans: no usage at all, fast exit
        return None
    details: dict[str, Any] = {}
    extra = _dict_attr(attributes.get("langfuse.observation.usage_details"))
    if extra:
        details.update(extra)
    input_tokens = _int(_first(attributes, _INPUT_TOKEN_KEYS))
    output_tokens = _int(_first(attributes, _OUTPUT_TOKEN_KEYS))
    total = _int(_first(attributes, _TOTAL_TOKEN_KEYS))
    for key, value in attributes.items():
        if key.startswith("gen_ai.usage.") and key not in _CONSUMED:
            details[key.removeprefix("gen_ai.usage.")] = value
    if input_tokens is not None:
        details["input"] = input_tokens
    if output_tokens is not None:
        details["output"] = output_tokens
    if total is None and (input_tokens is not None or output_tokens is not None):
        total = (input_tokens or 0) + (output_tokens or 0)
    if total is not None:
        details["total"] = total
    return details or None


def model_parameters(attributes: Mapping[str, Any]) -> dict[str, Any] | None:
    if attributes.keys().isdisjoint(_PARAMETER_KEYS):
        return None
    params: dict[str, Any] = {}
    for key in ("llm.invocation_parameters", "langfuse.observation.model.parameters"):
        parsed = _dict_attr(attributes.get(key))
        if parsed:
            params.update(parsed)
    for key, name in _MODEL_PARAMETER_KEYS.items():
        if key in attributes:
            value = attributes[key]
            params[name] = list(value) if isinstance(value, tuple) else value
    return params or None


def completion_start_ns(event: SpanEvent) -> int | None:
    """First-token time: a ``first_token`` span event, or a time-to-first-token attribute."""
    for ev in event.events:
        if ev.get("name") in _FIRST_TOKEN_EVENTS and isinstance(ev.get("time_unix_nano"), int):
            return ev["time_unix_nano"]
    attrs = event.attributes
    for key, scale in _TTFT_KEYS:
        ttft = attrs.get(key)
        if isinstance(ttft, (int, float)) and not isinstance(ttft, bool):
            return event.start_time_unix_nano + int(ttft * scale)
    return _iso_to_ns(attrs.get("langfuse.observation.completion_start_time"))


def langgraph_node_step(
    attributes: Mapping[str, Any], metadata: Mapping[str, Any] | None
) -> tuple[str | None, int | None]:
    node = attributes.get("langgraph.node")
    step = attributes.get("langgraph.step")
    if metadata:
        node = node if node is not None else metadata.get("langgraph_node")
        step = step if step is not None else metadata.get("langgraph_step")
    return (str(node) if node is not None else None), _int(step)


def _metadata(attributes: Mapping[str, Any], event: SpanEvent) -> dict[str, Any]:
    metadata: dict[str, Any] = {}
    for key, value in attributes.items():
        if key in _CONSUMED:
            continue
        if key == "metadata":
            value = _parse_json(value)
        elif isinstance(value, tuple):
            value = list(value)
        metadata[key] = value
    if event.links:
        metadata["otel.links"] = event.links
    scope_name = event.scope.get("name") if event.scope else None
    if scope_name:
        metadata["otel.scope.name"] = scope_name
    return metadata


# ---------------------------------------------------------------------------------------------
# rows


def observation_row(event: SpanEvent) -> Row:
    """One observation row from one span event (a start-only row has ``end_time_ns`` None)."""
    attrs = event.attributes
    embedded = _dict_attr(attrs.get("metadata"))
    node, step = langgraph_node_step(attrs, embedded)
    usage_details = usage(attrs)
    is_end = event.is_end
    input_value = _payload(attrs, _INPUT_KEYS, "input.mime_type")
    output_value = _payload(attrs, _OUTPUT_KEYS, "output.mime_type")
    indexed = (input_value is None or output_value is None) and any(
        key.startswith(_ALL_INDEXED_PREFIXES) for key in attrs
    )
    if input_value is None and indexed:
        input_value = _indexed_messages(attrs, _INDEXED_PREFIXES["input"])
    if output_value is None and indexed:
        output_value = _indexed_messages(attrs, _INDEXED_PREFIXES["output"])
    return {
        "id": event.span_id,
        "trace_id": event.trace_id,
        "project_id": event.project_id or DEFAULT_PROJECT_ID,
        "parent_observation_id": event.parent_span_id,
        "type": observation_type(attrs),
        "name": event.name,
        "kind": event.kind,
        "start_time_ns": event.start_time_unix_nano,
        "end_time_ns": event.end_time_unix_nano if is_end else None,
        "completion_start_time_ns": completion_start_ns(event),
        "level": observation_level(event),
        "status_code": event.status_code if is_end else "UNSET",
        "status_message": status_message(event),
        "input": input_value,
        "output": output_value,
        "metadata": _metadata(attrs, event),
        "model": _first(attrs, _MODEL_KEYS),
        "model_parameters": model_parameters(attrs),
        "usage": usage_details,
        "input_tokens": usage_details.get("input") if usage_details else None,
        "output_tokens": usage_details.get("output") if usage_details else None,
        "total_tokens": usage_details.get("total") if usage_details else None,
        "langgraph_node": node,
        "langgraph_step": step,
        "events": event.events,
        "has_start": not is_end,
        "has_end": is_end,
    }


def _trace_metadata(event: SpanEvent) -> dict[str, Any]:
    attrs = event.attributes
    metadata: dict[str, Any] = {}
    embedded = _dict_attr(attrs.get("metadata"))
    if embedded:
        metadata.update(embedded)
    explicit = _dict_attr(attrs.get("langfuse.trace.metadata"))
    if explicit:
        metadata.update(explicit)
    for key, value in attrs.items():
        if key.startswith("langfuse.trace.metadata."):
            metadata[key.removeprefix("langfuse.trace.metadata.")] = value
    resource = (event.resource or {}).get("attributes") or {}
    if resource:
        metadata["resource"] = resource
    return metadata


def trace_row(event: SpanEvent, level: str) -> Row:
    """The trace row one span event contributes: ids and times, plus root fields from a root."""
    is_end = event.is_end
    row: Row = {
        "id": event.trace_id,
        "project_id": event.project_id or DEFAULT_PROJECT_ID,
        "start_time_ns": event.start_time_unix_nano,
        "end_time_ns": event.end_time_unix_nano if is_end else None,
        "level": level,
        "name": None,
        "user_id": None,
        "session_id": None,
        "input": None,
        "output": None,
        "metadata": None,
        "tags": None,
        "status": RUNNING,
        "status_message": None,
        "root_observation_id": None,
        "service_name": None,
    }
    if event.parent_span_id:
        return row
    attrs = event.attributes
    resource = (event.resource or {}).get("attributes") or {}
    trace_input = _payload(attrs, ("langfuse.trace.input", *_INPUT_KEYS), "input.mime_type")
    trace_output = _payload(attrs, ("langfuse.trace.output", *_OUTPUT_KEYS), "output.mime_type")
    session = _first(attrs, _SESSION_KEYS)
    user = _first(attrs, _USER_KEYS)
    service = resource.get("service.name")
    row.update(
        name=str(attrs.get("langfuse.trace.name") or event.name),
        user_id=str(user) if user is not None else None,
        session_id=str(session) if session is not None else None,
        input=trace_input,
        output=trace_output,
        metadata=_trace_metadata(event),
        tags=_tags(_first(attrs, _TAG_KEYS)),
        status=event.status_code if is_end else RUNNING,
        status_message=status_message(event) if is_end else None,
        root_observation_id=event.span_id,
        service_name=str(service) if service is not None else None,
    )
    return row


# ---------------------------------------------------------------------------------------------
# folding (the same rules as the SQL in store.py)

_OBS_MERGED = ("has_start", "has_end", "metadata", "level")


def _worse(a: str, b: str) -> str:
    return a if LEVEL_RANK[a] >= LEVEL_RANK[b] else b


def fold_observation(old: Row, new: Row) -> Row:
    """Fold two rows of one span; the result does not depend on the argument order."""
    if new["has_end"] and not old["has_end"]:
        end, start = new, old
    elif old["has_end"] and not new["has_end"]:
        end, start = old, new
    else:  # both halves of the same kind: duplicates, the newer value fills gaps
        end, start = new, old
    folded = {
        key: (value if value is not None else start[key])
        for key, value in end.items()
        if key not in _OBS_MERGED
    }
    folded["has_start"] = old["has_start"] or new["has_start"]
    folded["has_end"] = old["has_end"] or new["has_end"]
    folded["metadata"] = {**start["metadata"], **end["metadata"]}
    folded["level"] = _worse(old["level"], new["level"])
    return folded


# Trace columns that only the root span fills (store.py merges them with the same rule).
TRACE_ROOT_FIELDS = (
    "name",
    "user_id",
    "session_id",
    "input",
    "output",
    "metadata",
    "tags",
    "status",
    "status_message",
    "root_observation_id",
    "service_name",
)


def _min(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else min(a, b)


def _max(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


def root_rank(row: Row) -> int:
    """How much of the root a trace row knows: 0 nothing, 1 its start, 2 its end."""
    if row["status"] != RUNNING:
        return 2
    return 1 if row["root_observation_id"] is not None else 0


def fold_trace(old: Row, new: Row) -> Row:
    """Fold two rows of one trace; order-independent, the root's end beats its start."""
    folded = dict(old)
    folded["start_time_ns"] = _min(old["start_time_ns"], new["start_time_ns"])
    folded["end_time_ns"] = _max(old["end_time_ns"], new["end_time_ns"])
    folded["level"] = _worse(old["level"], new["level"])
    winner, other = (new, old) if root_rank(new) >= root_rank(old) else (old, new)
    for key in TRACE_ROOT_FIELDS:
        value = winner[key]
        folded[key] = value if value is not None else other[key]
    return folded


def _covers(end: SpanEvent, attributes: Mapping[str, Any], resource: Any) -> bool:
    """True when mapping a span_start with these attributes cannot add anything to ``end``.

    The OTel SDK only adds or overwrites attributes, so a span_end normally carries every
    attribute of its span_start with the same value; then ``fold(start, end)`` equals ``end``'s
    rows plus ``has_start``, and the start need not be mapped at all (half the mapping work).
    """
    return attributes.items() <= end.attributes.items() and (
        not resource or resource == end.resource
    )


class MappedBatch:
    """Rows of a batch, folded per span and per trace (each key appears once).

    Add span_end events before span_start events (``map_events`` does) to let a start that is
    covered by its end skip the mapping; the result is the same in any order.
    """

    __slots__ = ("_ends", "observations", "traces")

    def __init__(self) -> None:
        # keyed with the project too: another project's event for the same ids must not fold
        # into this project's row (the store refuses it, see WHERE project_id = ...)
        self.observations: dict[tuple[str, str, str], Row] = {}
        self.traces: dict[tuple[str, str], Row] = {}
        self._ends: dict[tuple[str, str, str], SpanEvent] = {}

    def add(self, event: SpanEvent) -> None:
        """Map one event and fold it in; raises (leaving the batch unchanged) if it cannot."""
        key = (event.project_id or DEFAULT_PROJECT_ID, event.trace_id, event.span_id)
        if not event.is_end and self.mark_covered_start(key, event.attributes, event.resource):
            return
        obs = observation_row(event)
        trace_key = (key[0], event.trace_id)
        previous = self.observations.get(key)
        known = self.traces.get(trace_key)
        folded_obs = obs if previous is None else fold_observation(previous, obs)
        if known is not None and event.parent_span_id:
            # a child span only moves the trace's times and level (what fold_trace would do)
            self.observations[key] = folded_obs
            known["start_time_ns"] = _min(known["start_time_ns"], event.start_time_unix_nano)
            if event.is_end:
                known["end_time_ns"] = _max(known["end_time_ns"], event.end_time_unix_nano)
            known["level"] = _worse(known["level"], obs["level"])
        else:
            trace = trace_row(event, obs["level"])
            self.traces[trace_key] = trace if known is None else fold_trace(known, trace)
            self.observations[key] = folded_obs
        if event.is_end:
            self._ends[key] = event

    def mark_covered_start(
        self, key: tuple[str, str, str], attributes: Mapping[str, Any], resource: Any
    ) -> bool:
        """Fold a span_start whose span_end is already in the batch and covers it (see
        ``_covers``) by setting ``has_start``; False when it has to be mapped instead."""
        end = self._ends.get(key)
        if end is None or not isinstance(attributes, Mapping):
            return False
        if not _covers(end, attributes, resource):
            return False
        self.observations[key]["has_start"] = True
        return True

    @property
    def project_ids(self) -> set[str]:
        return {row["project_id"] for row in self.traces.values()} | {
            row["project_id"] for row in self.observations.values()
        }

    def __len__(self) -> int:
        return len(self.observations)


def map_events(events: Iterable[SpanEvent]) -> MappedBatch:
    """Map and fold a sequence of span events (ends first, see ``MappedBatch``)."""
    batch = MappedBatch()
    for event in sorted(events, key=lambda e: not e.is_end):
        batch.add(event)
    return batch
