"""Graph (root) and node spans, made by wrapping LangGraph's own execution points.

Why not a LangChain callback handler for nodes: LangChain's run-tree machinery costs about
300 µs per node. LangGraph runs every node attempt through ``run_with_retry`` /
``arun_with_retry`` (in ``langgraph.pregel._runner``) with a ``PregelExecutableTask`` that
already carries the node name, step, triggers and checkpoint namespace, so one wrapper there
gives one span per node run for a few microseconds. The wrapper attaches the node span to the
OTel context while the node runs: user spans, httpx spans and LLM/tool spans opened inside the
node become its children, also on LangGraph's thread pool (it runs tasks in a copied context)
and in asyncio tasks (which copy the context too).

The root span wraps ``Pregel.invoke`` / ``ainvoke`` / ``stream`` / ``astream`` when the call is
not already inside a graph run (the OTel context carries a ``_Run`` marker); ``batch`` /
``abatch`` / ``astream_events`` go through these, so each item gets its own root. A subgraph
called from a node therefore adds no root of its own: its nodes nest under the calling node.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY
from opentelemetry.trace import NoOpTracer, ProxyTracer, Span, Status, StatusCode, Tracer

from . import _attributes as attrs
from ._payload import PayloadEncoder

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

_RUN_KEY = otel_context.create_key("swisper_studio.langgraph.run")
_INTERNAL_CHANNEL_PREFIXES = ("branch:", "__")
_MISSING: Any = object()
_TAG_HIDDEN = "langsmith:hidden"  # LangGraph's mark for internal tasks such as __start__
_SUPPRESS_KEY_PLAIN = "suppress_instrumentation"  # the legacy key is_instrumentation_enabled reads


class _Run:
    """State of one top-level invocation, shared by its node spans through the context."""

    __slots__ = ("interrupted", "recording", "resumed")

    def __init__(self, recording: bool = False) -> None:
        self.interrupted = False
        self.resumed = False
        self.recording = recording  # the root span records: so do its nodes (parent-based)


def current_run() -> _Run | None:
    """The invocation the current context belongs to, if any."""
    return otel_context.get_value(_RUN_KEY)  # type: ignore[return-value]


def is_bubble_up(exc: BaseException) -> bool:
    """GraphInterrupt / ParentCommand: LangGraph control flow, not errors."""
    from langgraph.errors import GraphBubbleUp

    return isinstance(exc, GraphBubbleUp)


def is_interrupt(exc: BaseException) -> bool:
    from langgraph.errors import GraphInterrupt

    return isinstance(exc, GraphInterrupt)


class GraphTracer:
    """Opens and closes root and node spans; holds the tracer and the payload encoder."""

    def __init__(self, tracer: Tracer, encoder: PayloadEncoder | None) -> None:
        self._tracer = tracer
        self._resolved: Tracer | None = None
        self.encoder = encoder

    # -- helpers -------------------------------------------------------------------------------

    def active_tracer(self) -> Tracer | None:
        """The tracer to use now, or None when tracing is off (no-op provider, suppressed)."""
        return self._tracer_in(otel_context.get_current())

    def _tracer_in(self, ctx: otel_context.Context) -> Tracer | None:
        """``active_tracer`` for an already-read context (one context lookup per span)."""
        tracer = self._resolved
        if tracer is None:
            tracer = self._resolve()
            if tracer is None:
                return None
        if ctx.get(_SUPPRESS_INSTRUMENTATION_KEY) or ctx.get(_SUPPRESS_KEY_PLAIN):
            return None
        return tracer

    def _resolve(self) -> Tracer | None:
        """A ProxyTracer resolves once a global provider is set; a real tracer never changes
        after that, so it is kept (a no-op answer is not: a provider may come later)."""
        tracer = self._tracer
        if isinstance(tracer, ProxyTracer):
            tracer = tracer._tracer
        if isinstance(tracer, (NoOpTracer, ProxyTracer)):
            return None
        self._resolved = tracer
        return tracer

    def _set_payload(self, span: Span, which: str, value: Any) -> None:
        if self.encoder is None:
            return
        text, truncated = self.encoder.encode(value)
        span.set_attributes(attrs.payload_attributes(which, text, truncated))

    def _end_with_error(self, span: Span, run: _Run, exc: BaseException) -> None:
        if is_bubble_up(exc):
            if is_interrupt(exc):
                run.interrupted = True
                span.set_attribute(attrs.LANGGRAPH_INTERRUPTED, True)
        elif isinstance(exc, (asyncio.CancelledError, GeneratorExit)):
            span.set_attribute(attrs.LANGGRAPH_CANCELLED, True)
        else:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))

    # -- root spans ----------------------------------------------------------------------------

    @staticmethod
    def nested() -> bool:
        return otel_context.get_value(_RUN_KEY) is not None

    def start_root(
        self, graph: Any, args: tuple[Any, ...], kwargs: dict[str, Any], entrypoint: str
    ) -> tuple[Span, otel_context.Context, _Run] | None:
        parent = otel_context.get_current()
        if parent.get(_RUN_KEY) is not None:
            return None
        tracer = self._tracer_in(parent)
        if tracer is None:
            return None
        name = getattr(graph, "name", None) or "LangGraph"
        attributes: dict[str, Any] = {
            attrs.SPAN_KIND: attrs.CHAIN,
            attrs.LANGGRAPH_ENTRYPOINT: entrypoint,
        }
        early = will_record(tracer, parent)
        if early:
            self._root_attributes(attributes, args, kwargs)
        span = tracer.start_span(name, context=parent, attributes=attributes)
        if not early and span.is_recording():
            late: dict[str, Any] = {}
            self._root_attributes(late, args, kwargs)
            span.set_attributes(late)
        run = _Run(span.is_recording())
        ctx = otel_context.set_value(_RUN_KEY, run, trace.set_span_in_context(span, parent))
        return span, ctx, run

    def _root_attributes(
        self, out: dict[str, Any], args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        try:
            graph_input = args[0] if args else kwargs.get("input")
            config = args[1] if len(args) > 1 else kwargs.get("config")
            if type(graph_input).__name__ == "Command" and getattr(graph_input, "resume", None):
                out[attrs.LANGGRAPH_RESUMED] = True
            out.update(attrs.run_config_attributes(config, self.encoder))
            if self.encoder is not None:
                text, truncated = self.encoder.encode(graph_input)
                out.update(attrs.payload_attributes("input", text, truncated))
        except Exception:
            logger.debug("failed to build root span attributes", exc_info=True)

    def end_root(
        self, span: Span, run: _Run, output: Any = _MISSING, exc: BaseException | None = None
    ) -> None:
        try:
            if span.is_recording():
                if exc is not None:
                    self._end_with_error(span, run, exc)
                if run.interrupted or _output_interrupted(output):
                    span.set_attribute(attrs.LANGGRAPH_INTERRUPTED, True)
                if run.resumed:
                    span.set_attribute(attrs.LANGGRAPH_RESUMED, True)
                if output is not _MISSING and exc is None:
                    self._set_payload(span, "output", output)
        except Exception:
            logger.debug("failed to finish root span", exc_info=True)
        finally:
            span.end()

    # -- node spans ----------------------------------------------------------------------------

    def start_node(self, task: Any) -> tuple[Span, otel_context.Context, _Run] | None:
        tags = task.config.get("tags")
        if tags and _TAG_HIDDEN in tags:
            return None
        parent = otel_context.get_current()
        tracer = self._tracer_in(parent)
        if tracer is None:
            return None
        run = parent.get(_RUN_KEY)
        attributes = attrs.task_attributes(task)
        encoder = self.encoder
        early = encoder is not None and (
            run.recording if run is not None else will_record(tracer, parent)
        )
        if early:
            text, truncated = encoder.encode(task.input)  # type: ignore[union-attr]
            attributes[attrs.INPUT_VALUE] = text
            attributes[attrs.INPUT_MIME_TYPE] = attrs.JSON_MIME
            if truncated:
                attributes[attrs.INPUT_TRUNCATED] = True
        span = tracer.start_span(task.name, context=parent, attributes=attributes)
        ctx = trace.set_span_in_context(span, parent)
        if run is None:
            run = _Run()
            ctx = otel_context.set_value(_RUN_KEY, run, ctx)
        if encoder is not None and not early and span.is_recording():
            self._set_payload(span, "input", task.input)
        return span, ctx, run

    def end_node(
        self, span: Span, run: _Run, task: Any, exc: BaseException | None, attempts: int
    ) -> None:
        try:
            if exc is not None:
                if is_interrupt(exc):
                    run.interrupted = True
                if span.is_recording():
                    if attempts > 1:
                        span.set_attribute(attrs.LANGGRAPH_ATTEMPTS, attempts)
                    self._end_with_error(span, run, exc)
            elif span.is_recording():
                out: dict[str, Any] = {}
                if attempts > 1:
                    out[attrs.LANGGRAPH_ATTEMPTS] = attempts
                encoder = self.encoder
                if encoder is not None:
                    text, truncated = encoder.encode(_writes_as_output(task.writes))
                    out[attrs.OUTPUT_VALUE] = text
                    out[attrs.OUTPUT_MIME_TYPE] = attrs.JSON_MIME
                    if truncated:
                        out[attrs.OUTPUT_TRUNCATED] = True
                if out:
                    span.set_attributes(out)  # one locked attribute pass, not one per key
        except Exception:
            logger.debug("failed to finish node span", exc_info=True)
        finally:
            span.end()


def will_record(tracer: Tracer, parent: otel_context.Context) -> bool:
    """Predict sampling so payloads can go into ``start_span`` attributes: then they are in the
    span_start event and cost one attribute pass instead of two. Under the SDK's default
    parent-based sampling a child records exactly when its parent does; a root records under
    ALWAYS_ON. When unsure, answer False: the caller then checks ``is_recording()`` after the
    start, so a payload is never built for a span known to be dropped."""
    parent_span = trace.get_current_span(parent)
    if parent_span.get_span_context().is_valid:
        return parent_span.is_recording()
    sampler = getattr(tracer, "sampler", None)  # the SDK tracer's; no SDK import needed
    return _always_on(sampler) or _always_on(getattr(sampler, "_root", None))


def _always_on(sampler: Any) -> bool:
    try:
        return sampler is not None and sampler.get_description() == "AlwaysOnSampler"
    except Exception:
        return False


def _writes_as_output(writes: Any) -> Any:
    out = {}
    for channel, value in writes:
        if channel == "__return__":
            return value
        if not channel.startswith(_INTERNAL_CHANNEL_PREFIXES):  # branch:to:x, __resume__ ...
            out[channel] = value
    return out


def _output_interrupted(output: Any) -> bool:
    if isinstance(output, dict):
        return "__interrupt__" in output
    return bool(getattr(output, "interrupts", None))


class _AttemptProc:
    """Stands in for ``task.proc`` when a RetryPolicy applies: counts attempts and adds a
    ``retry`` event (with the previous attempt's exception) to the node span."""

    __slots__ = ("_last_exc", "_proc", "_span", "attempts")

    def __init__(self, proc: Any, span: Span) -> None:
        self._proc = proc
        self._span = span
        self._last_exc: BaseException | None = None
        self.attempts = 0

    def _begin(self) -> None:
        self.attempts += 1
        exc = self._last_exc
        if exc is not None and self._span.is_recording():
            self._span.add_event(
                attrs.RETRY_EVENT,
                {
                    "langgraph.attempt": self.attempts,
                    "exception.type": type(exc).__qualname__,
                    "exception.message": str(exc)[:1024],
                },
            )

    def invoke(self, input: Any, config: Any = None, **kwargs: Any) -> Any:
        self._begin()
        try:
            return self._proc.invoke(input, config, **kwargs)
        except Exception as exc:
            self._last_exc = exc
            raise

    async def ainvoke(self, input: Any, config: Any = None, **kwargs: Any) -> Any:
        self._begin()
        try:
            return await self._proc.ainvoke(input, config, **kwargs)
        except Exception as exc:
            self._last_exc = exc
            raise

    async def astream(self, input: Any, config: Any = None, **kwargs: Any) -> AsyncIterator[Any]:
        self._begin()
        try:
            async for chunk in self._proc.astream(input, config, **kwargs):
                yield chunk
        except Exception as exc:
            self._last_exc = exc
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._proc, name)


def _with_attempts(
    task: Any, args: tuple[Any, ...], kwargs: dict[str, Any], span: Span
) -> tuple[_AttemptProc, tuple[Any, ...], dict[str, Any]]:
    """Swap in an attempt-counting proc; only when a retry policy applies (rare, so free)."""
    proxy = _AttemptProc(task.proc, span)
    new_task = dataclasses.replace(task, proc=proxy)
    if args:
        return proxy, (new_task, *args[1:]), kwargs
    return proxy, args, {**kwargs, "task": new_task}


# -- wrapt wrappers (factories bound to one GraphTracer) ----------------------------------------


def run_task_wrapper(gt: GraphTracer) -> Callable[..., Any]:
    def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        task = args[0] if args else kwargs["task"]
        started = gt.start_node(task)
        if started is None:
            return wrapped(*args, **kwargs)
        span, ctx, run = started
        proxy = None
        if task.retry_policy or (args[1] if len(args) > 1 else kwargs.get("retry_policy")):
            proxy, args, kwargs = _with_attempts(task, args, kwargs, span)
        token = otel_context.attach(ctx)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            gt.end_node(span, run, task, exc, proxy.attempts if proxy else 1)
            raise
        finally:
            otel_context.detach(token)
        gt.end_node(span, run, task, None, proxy.attempts if proxy else 1)
        return result

    return wrapper


def arun_task_wrapper(gt: GraphTracer) -> Callable[..., Any]:
    async def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        task = args[0] if args else kwargs["task"]
        started = gt.start_node(task)
        if started is None:
            return await wrapped(*args, **kwargs)
        span, ctx, run = started
        proxy = None
        if task.retry_policy or (args[1] if len(args) > 1 else kwargs.get("retry_policy")):
            proxy, args, kwargs = _with_attempts(task, args, kwargs, span)
        token = otel_context.attach(ctx)
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            gt.end_node(span, run, task, exc, proxy.attempts if proxy else 1)
            raise
        finally:
            otel_context.detach(token)
        gt.end_node(span, run, task, None, proxy.attempts if proxy else 1)
        return result

    return wrapper


def invoke_wrapper(gt: GraphTracer) -> Callable[..., Any]:
    def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        started = gt.start_root(instance, args, kwargs, "invoke")
        if started is None:
            return wrapped(*args, **kwargs)
        span, ctx, run = started
        token = otel_context.attach(ctx)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            gt.end_root(span, run, exc=exc)
            raise
        finally:
            otel_context.detach(token)
        gt.end_root(span, run, result)
        return result

    return wrapper


def ainvoke_wrapper(gt: GraphTracer) -> Callable[..., Any]:
    async def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        started = gt.start_root(instance, args, kwargs, "ainvoke")
        if started is None:
            return await wrapped(*args, **kwargs)
        span, ctx, run = started
        token = otel_context.attach(ctx)
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            gt.end_root(span, run, exc=exc)
            raise
        finally:
            otel_context.detach(token)
        gt.end_root(span, run, result)
        return result

    return wrapper


def stream_wrapper(gt: GraphTracer) -> Callable[..., Any]:
    def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        if gt.nested() or gt.active_tracer() is None:
            return wrapped(*args, **kwargs)
        return _traced_stream(gt, wrapped, instance, args, kwargs)

    return wrapper


def _traced_stream(
    gt: GraphTracer, wrapped: Any, instance: Any, args: Any, kwargs: Any
) -> Iterator[Any]:
    """The root span lives from the first ``next()`` until the generator ends or is closed;
    the context is attached only while LangGraph runs, never across a ``yield``."""
    started = gt.start_root(instance, args, kwargs, "stream")
    if started is None:
        yield from wrapped(*args, **kwargs)
        return
    span, ctx, run = started
    last: Any = _MISSING
    error: BaseException | None = None
    finished = False
    token = otel_context.attach(ctx)
    try:
        inner = wrapped(*args, **kwargs)
    finally:
        otel_context.detach(token)
    try:
        while True:
            token = otel_context.attach(ctx)
            try:
                chunk = next(inner)
            except StopIteration:
                finished = True
                break
            finally:
                otel_context.detach(token)
            last = chunk
            yield chunk
    except BaseException as exc:
        error = exc
        raise
    finally:
        if not finished:
            token = otel_context.attach(ctx)
            try:
                inner.close()
            except BaseException:
                logger.debug("closing the inner graph stream failed", exc_info=True)
            finally:
                otel_context.detach(token)
        _end_stream(gt, span, run, last, error, finished)


def astream_wrapper(gt: GraphTracer) -> Callable[..., Any]:
    def wrapper(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        if gt.nested() or gt.active_tracer() is None:
            return wrapped(*args, **kwargs)
        return _traced_astream(gt, wrapped, instance, args, kwargs)

    return wrapper


async def _traced_astream(
    gt: GraphTracer, wrapped: Any, instance: Any, args: Any, kwargs: Any
) -> AsyncIterator[Any]:
    started = gt.start_root(instance, args, kwargs, "astream")
    if started is None:
        async for chunk in wrapped(*args, **kwargs):
            yield chunk
        return
    span, ctx, run = started
    last: Any = _MISSING
    error: BaseException | None = None
    finished = False
    token = otel_context.attach(ctx)
    try:
        inner = wrapped(*args, **kwargs)
    finally:
        otel_context.detach(token)
    try:
        while True:
            token = otel_context.attach(ctx)
            try:
                chunk = await inner.__anext__()
            except StopAsyncIteration:
                finished = True
                break
            finally:
                otel_context.detach(token)
            last = chunk
            yield chunk
    except BaseException as exc:
        error = exc
        raise
    finally:
        if not finished:
            token = otel_context.attach(ctx)
            try:
                await inner.aclose()
            except BaseException:
                logger.debug("closing the inner graph stream failed", exc_info=True)
            finally:
                otel_context.detach(token)
        _end_stream(gt, span, run, last, error, finished)


def _end_stream(
    gt: GraphTracer,
    span: Span,
    run: _Run,
    last: Any,
    error: BaseException | None,
    finished: bool,
) -> None:
    if error is not None and not isinstance(error, GeneratorExit):
        gt.end_root(span, run, exc=error)
        return
    if not finished and span.is_recording():
        span.set_attribute(attrs.LANGGRAPH_STREAM_CLOSED_EARLY, True)
    gt.end_root(span, run, last if finished else _MISSING)
