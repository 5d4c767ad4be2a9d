"""Attribute keys and small ``(key, value)`` extractors for graph, node, LLM and tool spans.

Keys follow OpenInference (payloads, span kinds, session/user) and the OpenTelemetry GenAI
conventions (model, token usage, tool name). Each extractor is a generator decorated with
``@stop_on_exception``: a failure abandons that extractor only, never the span or the app.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

# OpenInference
SPAN_KIND = "openinference.span.kind"
CHAIN = "CHAIN"
LLM = "LLM"
TOOL = "TOOL"
RETRIEVER = "RETRIEVER"
INPUT_VALUE = "input.value"
INPUT_MIME_TYPE = "input.mime_type"
INPUT_TRUNCATED = "input.truncated"
OUTPUT_VALUE = "output.value"
OUTPUT_MIME_TYPE = "output.mime_type"
OUTPUT_TRUNCATED = "output.truncated"
JSON_MIME = "application/json"
SESSION_ID = "session.id"
USER_ID = "user.id"
TAG_TAGS = "tag.tags"
METADATA = "metadata"
LLM_MODEL_NAME = "llm.model_name"
LLM_INVOCATION_PARAMETERS = "llm.invocation_parameters"
LLM_INPUT_MESSAGES = "llm.input_messages"
LLM_OUTPUT_MESSAGES = "llm.output_messages"
LLM_TOKEN_PROMPT = "llm.token_count.prompt"
LLM_TOKEN_COMPLETION = "llm.token_count.completion"
LLM_TOKEN_TOTAL = "llm.token_count.total"
LLM_TIME_TO_FIRST_TOKEN_MS = "llm.time_to_first_token_ms"
TOOL_NAME = "tool.name"
TOOL_CALL_ID = "tool_call.id"
RETRIEVAL_DOCUMENTS = "retrieval.documents"

# OpenTelemetry GenAI
GEN_AI_SYSTEM = "gen_ai.system"
GEN_AI_OPERATION = "gen_ai.operation.name"
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_REQUEST_TEMPERATURE = "gen_ai.request.temperature"
GEN_AI_REQUEST_MAX_TOKENS = "gen_ai.request.max_tokens"
GEN_AI_INPUT_TOKENS = "gen_ai.usage.input_tokens"
GEN_AI_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
GEN_AI_TOOL_NAME = "gen_ai.tool.name"
GEN_AI_TOOL_CALL_ID = "gen_ai.tool.call.id"
GEN_AI_RESPONSE_FINISH_REASONS = "gen_ai.response.finish_reasons"

# LangGraph
LANGGRAPH_GRAPH = "langgraph.graph"
LANGGRAPH_NODE = "langgraph.node"
LANGGRAPH_STEP = "langgraph.step"
LANGGRAPH_TRIGGERS = "langgraph.triggers"
LANGGRAPH_CHECKPOINT_NS = "langgraph.checkpoint_ns"
LANGGRAPH_PATH = "langgraph.path"
LANGGRAPH_THREAD_ID = "langgraph.thread_id"
LANGGRAPH_INTERRUPTED = "langgraph.interrupted"
LANGGRAPH_RESUMED = "langgraph.resumed"
LANGGRAPH_ATTEMPTS = "langgraph.attempts"
LANGGRAPH_CANCELLED = "langgraph.cancelled"
LANGGRAPH_STREAM_CLOSED_EARLY = "langgraph.stream.closed_early"
LANGGRAPH_ENTRYPOINT = "langgraph.entrypoint"
RETRY_EVENT = "retry"
FIRST_TOKEN_EVENT = "first_token"

Attr = tuple[str, Any]
_F = TypeVar("_F", bound=Callable[..., Iterator[Attr]])


def stop_on_exception(func: _F) -> _F:
    """Let an extractor yield what it can; an exception ends that extractor only."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Iterator[Attr]:
        try:
            yield from func(*args, **kwargs)
        except Exception:
            logger.debug("attribute extractor %s failed", func.__name__, exc_info=True)

    return wrapper  # type: ignore[return-value]


def task_attributes(task: Any) -> dict[str, Any]:
    """Node span attributes from a ``PregelExecutableTask``, passed to ``start_span`` at once
    (one attribute-set call instead of one locked ``set_attribute`` per key)."""
    out: dict[str, Any] = {SPAN_KIND: CHAIN, LANGGRAPH_NODE: task.name}
    try:
        metadata = task.config.get("metadata") or {}
        step = metadata.get("langgraph_step")
        if isinstance(step, int):
            out[LANGGRAPH_STEP] = step
        triggers = task.triggers
        if triggers:
            out[LANGGRAPH_TRIGGERS] = triggers if type(triggers) is tuple else tuple(triggers)
        ns = metadata.get("langgraph_checkpoint_ns")
        if ns:
            out[LANGGRAPH_CHECKPOINT_NS] = ns
    except Exception:
        logger.debug("failed to read task attributes", exc_info=True)
    return out


def payload_attributes(which: str, text: str, truncated: bool) -> dict[str, Any]:
    """``input.value`` / ``input.mime_type`` (/ ``input.truncated``), or the output triple."""
    if which == "input":
        out = {INPUT_VALUE: text, INPUT_MIME_TYPE: JSON_MIME}
        if truncated:
            out[INPUT_TRUNCATED] = True
    else:
        out = {OUTPUT_VALUE: text, OUTPUT_MIME_TYPE: JSON_MIME}
        if truncated:
            out[OUTPUT_TRUNCATED] = True
    return out


@stop_on_exception
def run_config_attributes(config: Mapping[str, Any] | None, encoder: Any) -> Iterator[Attr]:
    """Root span attributes from a RunnableConfig: session, user, tags, metadata."""
    if not config:
        return
    configurable = config.get("configurable") or {}
    thread_id = configurable.get("thread_id")
    if thread_id is not None:
        yield SESSION_ID, str(thread_id)
        yield LANGGRAPH_THREAD_ID, str(thread_id)
    metadata = config.get("metadata") or {}
    session = metadata.get("session_id")
    if session is not None and thread_id is None:
        yield SESSION_ID, str(session)
    user = metadata.get("user_id")
    if user is not None:
        yield USER_ID, str(user)
    tags = config.get("tags")
    if tags:
        yield TAG_TAGS, [str(t) for t in tags]
    if metadata and encoder is not None:
        text, _ = encoder.encode(metadata)
        yield METADATA, text


def _usage(message: Any) -> Mapping[str, Any] | None:
    usage = getattr(message, "usage_metadata", None)
    return usage if isinstance(usage, Mapping) else None


@stop_on_exception
def model_request_attributes(
    serialized: Mapping[str, Any] | None, kwargs: Mapping[str, Any]
) -> Iterator[Attr]:
    """Model name and invocation parameters from ``on_chat_model_start`` arguments."""
    yield SPAN_KIND, LLM
    yield GEN_AI_OPERATION, "chat"
    params = kwargs.get("invocation_params") or {}
    metadata = kwargs.get("metadata") or {}
    model = (
        params.get("model")
        or params.get("model_name")
        or metadata.get("ls_model_name")
        or params.get("model_id")
    )
    if model:
        yield GEN_AI_REQUEST_MODEL, str(model)
        yield LLM_MODEL_NAME, str(model)
    provider = metadata.get("ls_provider") or params.get("_type")
    if provider:
        yield GEN_AI_SYSTEM, str(provider)
    temperature = params.get("temperature", metadata.get("ls_temperature"))
    if isinstance(temperature, (int, float)) and not isinstance(temperature, bool):
        yield GEN_AI_REQUEST_TEMPERATURE, float(temperature)
    max_tokens = params.get("max_tokens", metadata.get("ls_max_tokens"))
    if isinstance(max_tokens, int) and not isinstance(max_tokens, bool):
        yield GEN_AI_REQUEST_MAX_TOKENS, max_tokens


@stop_on_exception
def model_response_attributes(response: Any) -> Iterator[Attr]:
    """Token usage, response model and finish reasons from an ``LLMResult``."""
    generations: Sequence[Sequence[Any]] = response.generations or ()
    message = None
    finish_reasons: list[str] = []
    for batch in generations:
        for gen in batch:
            message = getattr(gen, "message", None) or message
            info = getattr(gen, "generation_info", None) or {}
            reason = info.get("finish_reason")
            if reason:
                finish_reasons.append(str(reason))
    usage = _usage(message) if message is not None else None
    if usage is None:
        llm_output = response.llm_output or {}
        usage = llm_output.get("token_usage") or llm_output.get("usage")
        if isinstance(usage, Mapping):
            usage = {
                "input_tokens": usage.get("prompt_tokens", usage.get("input_tokens")),
                "output_tokens": usage.get("completion_tokens", usage.get("output_tokens")),
                "total_tokens": usage.get("total_tokens"),
            }
    if isinstance(usage, Mapping):
        inp, out, total = (
            usage.get("input_tokens"),
            usage.get("output_tokens"),
            usage.get("total_tokens"),
        )
        if isinstance(inp, int):
            yield GEN_AI_INPUT_TOKENS, inp
            yield LLM_TOKEN_PROMPT, inp
        if isinstance(out, int):
            yield GEN_AI_OUTPUT_TOKENS, out
            yield LLM_TOKEN_COMPLETION, out
        if isinstance(total, int):
            yield LLM_TOKEN_TOTAL, total
    if message is not None:
        meta = getattr(message, "response_metadata", None) or {}
        model = meta.get("model_name") or meta.get("model")
        if model:
            yield GEN_AI_RESPONSE_MODEL, str(model)
        reason = meta.get("finish_reason") or meta.get("stop_reason")
        if reason and not finish_reasons:
            finish_reasons.append(str(reason))
    if finish_reasons:
        yield GEN_AI_RESPONSE_FINISH_REASONS, finish_reasons


def output_message(response: Any) -> Any:
    """The first generated message (or text) of an ``LLMResult``."""
    for batch in response.generations or ():
        for gen in batch:
            message = getattr(gen, "message", None)
            return message if message is not None else getattr(gen, "text", None)
    return None


@stop_on_exception
def tool_attributes(
    serialized: Mapping[str, Any] | None, kwargs: Mapping[str, Any]
) -> Iterator[Attr]:
    """Tool name and call id from ``on_tool_start`` arguments."""
    yield SPAN_KIND, TOOL
    yield GEN_AI_OPERATION, "execute_tool"
    name = (serialized or {}).get("name") or kwargs.get("name")
    if name:
        yield GEN_AI_TOOL_NAME, str(name)
        yield TOOL_NAME, str(name)
    inputs = kwargs.get("inputs")
    call_id = kwargs.get("tool_call_id") or (
        inputs.get("tool_call_id") if isinstance(inputs, Mapping) else None
    )
    if call_id:
        yield GEN_AI_TOOL_CALL_ID, str(call_id)
        yield TOOL_CALL_ID, str(call_id)
