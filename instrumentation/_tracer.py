"""LLM, tool and retriever spans from LangChain callbacks.

One inheritable handler is injected into every LangChain callback manager. It ignores chain,
agent, retry and custom events (``ignore_chain`` and friends), so LangGraph's per-node chain
callbacks cost a flag check, not a run tree. For model, tool and retriever runs it keeps a
``run_id -> span`` map: the parent is the span of ``parent_run_id`` when that run is one of
ours (a model called inside a tool), otherwise the current OTel span, which is the node span
attached by the graph wrapper. Callbacks run inline (``run_inline``), so the current context
is the caller's. The handler never attaches a context itself (a callback pair is not a scope)
and never raises into the app.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from uuid import UUID

from langchain_core.callbacks import BaseCallbackHandler

try:  # LangGraph dispatches on_interrupt / on_resume only to GraphCallbackHandlers
    from langgraph.callbacks import GraphCallbackHandler as _HandlerBase
except ImportError:  # older LangGraph
    _HandlerBase = BaseCallbackHandler  # type: ignore[misc,assignment]
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode, Tracer

from . import _attributes as attrs
from ._graph import current_run, is_bubble_up, is_interrupt, will_record
from ._payload import PayloadEncoder

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

_MAX_FLAT_MESSAGES = 32
_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool"}


class _Live:
    __slots__ = ("first_token", "span", "start_ns")

    def __init__(self, span: Span, start_ns: int) -> None:
        self.span = span
        self.start_ns = start_ns
        self.first_token = False


def _guard(func: Callable[..., None]) -> Callable[..., None]:
    """Callbacks never raise into LangChain (and so never into the app)."""

    def wrapper(self: SpanCallbackHandler, *args: Any, **kwargs: Any) -> None:
        try:
            func(self, *args, **kwargs)
        except Exception:
            logger.debug("span callback %s failed", func.__name__, exc_info=True)

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


class SpanCallbackHandler(_HandlerBase):
    """Turns chat model, LLM, tool and retriever runs into OTel spans."""

    run_inline = True
    raise_error = False
    ignore_chain = True  # node/chain runs are traced by the graph wrappers, not here
    ignore_retry = True
    ignore_custom_event = True

    def __init__(self, tracer_getter: Callable[[], Tracer | None], encoder: PayloadEncoder | None):
        super().__init__()
        self._tracer_getter = tracer_getter
        self._encoder = encoder
        self._live: dict[UUID, _Live] = {}
        self._lock = threading.Lock()

    # -- span bookkeeping ------------------------------------------------------------------

    def _start(
        self,
        name: str,
        run_id: UUID,
        parent_run_id: UUID | None,
        attributes: dict[str, Any],
        payload: Callable[[dict[str, Any]], None],
    ) -> None:
        """Start a span with its structural ``attributes``; ``payload(out)`` adds the
        serialised parts, before the start when sampling is predictable (so they are in the
        span_start event), else after it and only if the span records."""
        tracer = self._tracer_getter()
        if tracer is None:
            return
        parent_live = self._live.get(parent_run_id) if parent_run_id is not None else None
        if parent_live is not None:
            ctx = trace.set_span_in_context(parent_live.span)
        else:
            ctx = otel_context.get_current()
        early = will_record(tracer, ctx)
        if early:
            payload(attributes)
        start_ns = time.time_ns()
        span = tracer.start_span(name, context=ctx, start_time=start_ns, attributes=attributes)
        with self._lock:
            self._live[run_id] = _Live(span, start_ns)
        if not early and span.is_recording():
            late: dict[str, Any] = {}
            payload(late)
            span.set_attributes(late)

    def _pop(self, run_id: UUID) -> Span | None:
        with self._lock:
            live = self._live.pop(run_id, None)
        return live.span if live is not None else None

    def _payload(self, out: dict[str, Any], which: str, value: Any) -> None:
        """Adds input.* / output.* to ``out`` (attributes are set in one call per event)."""
        if self._encoder is None:
            return
        text, truncated = self._encoder.encode(value)
        out.update(attrs.payload_attributes(which, text, truncated))

    def _fail(self, run_id: UUID, error: BaseException) -> None:
        span = self._pop(run_id)
        if span is None:
            return
        if span.is_recording():
            if is_bubble_up(error):
                if is_interrupt(error):
                    span.set_attribute(attrs.LANGGRAPH_INTERRUPTED, True)
            else:
                span.record_exception(error)
                span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"))
        span.end()

    def _messages(self, prefix: str, out: dict[str, Any], messages: Sequence[Any]) -> None:
        """OpenInference flattened messages (role, content, tool call names) for readers."""
        cap = self._encoder.max_bytes if self._encoder is not None else 0
        for i, message in enumerate(messages[:_MAX_FLAT_MESSAGES]):
            base = f"{prefix}.{i}.message"
            role = _ROLES.get(getattr(message, "type", ""), getattr(message, "type", "unknown"))
            out[f"{base}.role"] = str(role)
            content = getattr(message, "content", message)
            if not isinstance(content, str) and self._encoder is not None:
                content, _ = self._encoder.encode(content)
            if isinstance(content, str):
                out[f"{base}.content"] = content[:cap]
            for j, call in enumerate(getattr(message, "tool_calls", None) or ()):
                name = call.get("name") if isinstance(call, Mapping) else None
                if name:
                    out[f"{base}.tool_calls.{j}.tool_call.function.name"] = name
                if isinstance(call, Mapping) and self._encoder is not None:
                    args, _ = self._encoder.encode(call.get("args"))
                    out[f"{base}.tool_calls.{j}.tool_call.function.arguments"] = args

    # -- chat models and LLMs --------------------------------------------------------------

    @_guard
    def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[Any]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        name = kwargs.get("name") or _serialized_name(serialized) or "chat_model"
        flat = messages[0] if messages else []

        def payload(out: dict[str, Any]) -> None:
            self._request_details(out, kwargs)
            if self._encoder is not None:
                self._payload(out, "input", {"messages": flat})
                self._messages(attrs.LLM_INPUT_MESSAGES, out, flat)

        base = dict(attrs.model_request_attributes(serialized, kwargs))
        self._start(name, run_id, parent_run_id, base, payload)

    @_guard
    def on_llm_start(
        self,
        serialized: dict[str, Any],
        prompts: list[str],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        name = kwargs.get("name") or _serialized_name(serialized) or "llm"

        def payload(out: dict[str, Any]) -> None:
            self._request_details(out, kwargs)
            self._payload(out, "input", {"prompts": prompts})

        base = dict(attrs.model_request_attributes(serialized, kwargs))
        base[attrs.GEN_AI_OPERATION] = "text_completion"
        self._start(name, run_id, parent_run_id, base, payload)

    def _request_details(self, out: dict[str, Any], kwargs: Mapping[str, Any]) -> None:
        params = kwargs.get("invocation_params")
        if params and self._encoder is not None:
            text, _ = self._encoder.encode(params)
            out[attrs.LLM_INVOCATION_PARAMETERS] = text
        tags = kwargs.get("tags")
        if tags:
            out[attrs.TAG_TAGS] = [str(t) for t in tags]

    @_guard
    def on_llm_new_token(self, token: str, *, run_id: UUID, **kwargs: Any) -> None:
        live = self._live.get(run_id)
        if live is None or live.first_token:
            return
        live.first_token = True
        now = time.time_ns()
        if live.span.is_recording():
            ttft_ms = (now - live.start_ns) / 1e6
            live.span.add_event(attrs.FIRST_TOKEN_EVENT, {"time_to_first_token_ms": ttft_ms}, now)
            live.span.set_attribute(attrs.LLM_TIME_TO_FIRST_TOKEN_MS, ttft_ms)  # once per run

    @_guard
    def on_llm_end(self, response: Any, *, run_id: UUID, **kwargs: Any) -> None:
        span = self._pop(run_id)
        if span is None:
            return
        try:
            if span.is_recording():
                out = dict(attrs.model_response_attributes(response))
                message = attrs.output_message(response)
                if message is not None and self._encoder is not None:
                    self._payload(out, "output", message)
                    if not isinstance(message, str):
                        self._messages(attrs.LLM_OUTPUT_MESSAGES, out, [message])
                span.set_attributes(out)
        finally:
            span.end()

    @_guard
    def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._fail(run_id, error)

    # -- tools -----------------------------------------------------------------------------

    @_guard
    def on_tool_start(
        self,
        serialized: dict[str, Any],
        input_str: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        inputs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        name = kwargs.get("name") or _serialized_name(serialized) or "tool"
        base = dict(attrs.tool_attributes(serialized, {**kwargs, "inputs": inputs}))
        value = inputs if inputs is not None else input_str
        self._start(
            str(name), run_id, parent_run_id, base, lambda out: self._payload(out, "input", value)
        )

    @_guard
    def on_tool_end(self, output: Any, *, run_id: UUID, **kwargs: Any) -> None:
        span = self._pop(run_id)
        if span is None:
            return
        try:
            if span.is_recording():
                out: dict[str, Any] = {}
                self._payload(out, "output", getattr(output, "content", output))
                span.set_attributes(out)
        finally:
            span.end()

    @_guard
    def on_tool_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._fail(run_id, error)

    # -- LangGraph lifecycle --------------------------------------------------------------

    @_guard
    def on_interrupt(self, event: Any = None, **kwargs: Any) -> None:
        """Marks the run interrupted, also for static breakpoints (interrupt_before/after)."""
        run = current_run()
        if run is not None:
            run.interrupted = True

    @_guard
    def on_resume(self, event: Any = None, **kwargs: Any) -> None:
        run = current_run()
        if run is not None:
            run.resumed = True

    # -- retrievers ------------------------------------------------------------------------

    @_guard
    def on_retriever_start(
        self,
        serialized: dict[str, Any],
        query: str,
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        **kwargs: Any,
    ) -> None:
        name = kwargs.get("name") or _serialized_name(serialized) or "retriever"
        base: dict[str, Any] = {attrs.SPAN_KIND: attrs.RETRIEVER}
        self._start(
            str(name), run_id, parent_run_id, base, lambda out: self._payload(out, "input", query)
        )

    @_guard
    def on_retriever_end(self, documents: Sequence[Any], *, run_id: UUID, **kwargs: Any) -> None:
        span = self._pop(run_id)
        if span is None:
            return
        try:
            if span.is_recording() and self._encoder is not None:
                cap = self._encoder.max_bytes
                out: dict[str, Any] = {}
                for i, doc in enumerate(documents[:_MAX_FLAT_MESSAGES]):
                    base = f"{attrs.RETRIEVAL_DOCUMENTS}.{i}.document"
                    content = getattr(doc, "page_content", None)
                    if isinstance(content, str):
                        out[f"{base}.content"] = content[:cap]
                    doc_id = getattr(doc, "id", None)
                    if doc_id:
                        out[f"{base}.id"] = str(doc_id)
                self._payload(out, "output", list(documents))
                span.set_attributes(out)
        finally:
            span.end()

    @_guard
    def on_retriever_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._fail(run_id, error)


def _serialized_name(serialized: Mapping[str, Any] | None) -> str | None:
    if not serialized:
        return None
    name = serialized.get("name")
    if name:
        return str(name)
    ids = serialized.get("id")
    if isinstance(ids, list) and ids:
        return str(ids[-1])
    return None
