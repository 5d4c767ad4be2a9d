"""OpenTelemetry instrumentation for LangGraph.

Usage (an app that already has an OTel pipeline)::

    from swisper_studio.instrumentation import instrument_langgraph

    instrument_langgraph()  # or instrument_langgraph(tracer_provider=provider)

Usage (no OTel pipeline yet: spans go to Redis for the SwisperStudio collector)::

    from swisper_studio.instrumentation import configure

    configure(project_id="my-project")

Every top-level graph invocation becomes a root span named after the graph; every node run,
chat model call, tool call and retriever call becomes a child span. See
``docs/instrumentation.md`` for the span and attribute reference.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from ._payload import (
    DEFAULT_MAX_PAYLOAD_BYTES,
    REDACTED,
    PayloadEncoder,
    Redactor,
    default_redact,
    is_secret_key,
)
from .instrumentor import LangGraphInstrumentor
from .version import __version__

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.trace import TracerProvider as ApiTracerProvider

__all__ = [
    "DEFAULT_MAX_PAYLOAD_BYTES",
    "REDACTED",
    "LangGraphInstrumentor",
    "PayloadEncoder",
    "Redactor",
    "__version__",
    "configure",
    "default_redact",
    "instrument_langgraph",
    "is_secret_key",
    "uninstrument_langgraph",
]

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())


def instrument_langgraph(
    tracer_provider: ApiTracerProvider | None = None,
    *,
    capture_payloads: bool = True,
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    redact: Redactor | None = default_redact,
) -> LangGraphInstrumentor:
    """Trace every LangGraph run, node, chat model, tool and retriever call.

    A second call while instrumented changes nothing (call ``uninstrument_langgraph()`` first to
    switch provider or options).

    Args:
        tracer_provider: the provider for the spans; the global one when None.
        capture_payloads: record inputs and outputs (``input.value`` / ``output.value``);
            False records structure, timings, models and token usage only.
        max_payload_bytes: cap per payload attribute, in bytes of JSON; longer text is cut,
            suffixed with ``...[truncated]`` and flagged with ``input.truncated`` /
            ``output.truncated``.
        redact: ``redact(key, value) -> value`` applied to every mapping key of every payload;
            the default masks secret-looking keys (password, api_key, token, secret,
            authorization, cookie, ...). None disables redaction.

    Raises:
        ValueError / TypeError: for an invalid ``max_payload_bytes`` or ``redact``.
    """
    instrumentor = LangGraphInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        logger.debug("LangGraph is already instrumented; instrument_langgraph() ignored")
        return instrumentor
    instrumentor.instrument(
        tracer_provider=tracer_provider,
        capture_payloads=capture_payloads,
        max_payload_bytes=max_payload_bytes,
        redact=redact,
    )
    return instrumentor


def uninstrument_langgraph() -> None:
    """Remove all wrappers installed by ``instrument_langgraph()``; harmless when not active."""
    instrumentor = LangGraphInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()


def configure(
    *,
    redis_url: str | None = None,
    stream_name: str | None = None,
    project_id: str | None = None,
    service_name: str | None = None,
    set_global: bool | None = None,
    capture_payloads: bool = True,
    max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    redact: Redactor | None = default_redact,
    **processor_options: Any,
) -> TracerProvider:
    """Set up a TracerProvider that publishes to Redis, and instrument LangGraph on it.

    For apps without an OTel pipeline. Arguments left as None fall back to the exporter's
    ``SWISPER_STUDIO_*`` environment variables and defaults; ``service_name`` falls back to
    ``OTEL_SERVICE_NAME`` / ``OTEL_RESOURCE_ATTRIBUTES``. Extra keyword arguments (e.g.
    ``max_queue_size``, ``max_batch_size``, ``max_stream_length``, ``enabled``) go to
    ``RedisStreamSpanProcessor``. If LangGraph is already instrumented, it is re-instrumented
    on the new provider. When the processor is disabled (``SWISPER_STUDIO_ENABLED=false``),
    LangGraph is left uninstrumented.

    Args:
        set_global: make the provider the global OTel tracer provider, so spans that user
            code and other instrumentations start through ``trace.get_tracer()`` are
            published too. The default (None) does so when no global provider has been set
            yet - the app has no OTel pipeline - and leaves an existing one alone.

    Returns:
        the SDK ``TracerProvider``; call ``shutdown()`` on it at exit to flush.
    """
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from swisper_studio.exporter import RedisStreamSpanProcessor

    options = {
        key: value
        for key, value in {
            "redis_url": redis_url,
            "stream_name": stream_name,
            "project_id": project_id,
            **processor_options,
        }.items()
        if value is not None
    }
    resource = Resource.create({SERVICE_NAME: service_name} if service_name else {})
    provider = TracerProvider(resource=resource)
    processor = RedisStreamSpanProcessor(**options)
    provider.add_span_processor(processor)
    uninstrument_langgraph()
    config = getattr(processor, "config", None)
    if config is not None and getattr(config, "enabled", True) is False:
        # SWISPER_STUDIO_ENABLED=false (or enabled=False): no spans would go anywhere, so
        # LangGraph is left uninstrumented and costs nothing.
        logger.info("SwisperStudio is disabled; LangGraph is not instrumented")
        _maybe_set_global(provider, set_global)
        return provider
    instrument_langgraph(
        provider,
        capture_payloads=capture_payloads,
        max_payload_bytes=max_payload_bytes,
        redact=redact,
    )
    _maybe_set_global(provider, set_global)
    return provider


def _maybe_set_global(provider: Any, set_global: bool | None) -> None:
    from opentelemetry import trace

    if set_global is None:
        set_global = isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    if set_global:
        trace.set_tracer_provider(provider)
