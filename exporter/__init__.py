"""SwisperStudio's OpenTelemetry exporter: span events to a Redis stream, off the request path.

Usage::

    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from swisper_studio.exporter import RedisStreamSpanProcessor

    provider = TracerProvider()
    provider.add_span_processor(RedisStreamSpanProcessor())  # settings from SWISPER_STUDIO_*
    trace.set_tracer_provider(provider)

``RedisStreamSpanExporter`` is the same wire format for an existing ``BatchSpanProcessor``
(``OTEL_TRACES_EXPORTER=redis_streams``); ``verify_connection()`` checks Redis, the write path,
the collector's heartbeat and, optionally, an end-to-end round trip. See docs/exporter.md.
"""

import logging

from swisper_studio.exporter.config import ExporterConfig
from swisper_studio.exporter.exporter import RedisStreamSpanExporter
from swisper_studio.exporter.processor import RedisStreamSpanProcessor
from swisper_studio.exporter.verify import verify_connection

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "ExporterConfig",
    "RedisStreamSpanExporter",
    "RedisStreamSpanProcessor",
    "verify_connection",
]
