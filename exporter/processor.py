"""``RedisStreamSpanProcessor``: publish span_start / span_end events to a Redis stream.

The hooks run on the application's thread, so they only take a snapshot and queue it: no
encoding, no I/O, no lock on the common path, no exception. A daemon thread encodes and
publishes (see ``_publisher.py``).
"""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from swisper_studio.exporter._encoder import SpanEventEncoder, snapshot_start
from swisper_studio.exporter._publisher import DROP_REASONS, Publisher
from swisper_studio.exporter.config import ExporterConfig, resolve_config

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())


class RedisStreamSpanProcessor(SpanProcessor):
    """Sends every sampled span to a Redis stream twice: at start and at end.

    All arguments are optional and keyword-only; each falls back to its ``SWISPER_STUDIO_*``
    environment variable, then to its default (see ``ExporterConfig``). Pass ``config`` to hand
    over a ready ``ExporterConfig`` instead.

    Args:
        redis_url: ``redis://``, ``rediss://`` or ``unix://`` URL (passwords allowed).
        stream_name: stream key, default ``observability:events``.
        project_id: SwisperStudio project id written on every event, default ``default``.
        max_stream_length: approximate MAXLEN of the stream, default 100000.
        max_queue_size: events held in memory before the oldest is dropped, default 20480.
        max_batch_size: events per pipelined round trip, default 512.
        schedule_delay_millis: longest wait before a partial batch is sent, default 200.
        export_timeout_millis: Redis connect/socket timeout, default 5000.
        enabled: False makes the processor a no-op (also ``OTEL_SDK_DISABLED=true``).
        config: a complete ``ExporterConfig``; cannot be combined with the other arguments.

    Raises:
        TypeError, ValueError: a malformed argument or ``SWISPER_STUDIO_REDIS_URL``. An
        unreachable server is never an error: it is logged and the processor degrades.
    """

    def __init__(
        self,
        *,
        redis_url: str | None = None,
        stream_name: str | None = None,
        project_id: str | None = None,
        max_stream_length: int | None = None,
        max_queue_size: int | None = None,
        max_batch_size: int | None = None,
        schedule_delay_millis: int | None = None,
        export_timeout_millis: int | None = None,
        enabled: bool | None = None,
        config: ExporterConfig | None = None,
    ) -> None:
        settings = {
            "redis_url": redis_url,
            "stream_name": stream_name,
            "project_id": project_id,
            "max_stream_length": max_stream_length,
            "max_queue_size": max_queue_size,
            "max_batch_size": max_batch_size,
            "schedule_delay_millis": schedule_delay_millis,
            "export_timeout_millis": export_timeout_millis,
            "enabled": enabled,
        }
        self.config = resolve_config(config, settings)
        self._publisher: Publisher | None = None
        self._hook_error_logged = False
        if self.config.enabled:
            encoder = SpanEventEncoder(self.config.project_id)
            self._publisher = Publisher(self.config, encoder.encode)
        else:
            logger.info("SwisperStudio: span publishing disabled by configuration")

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        publisher = self._publisher
        if publisher is None:
            return
        try:
            snapshot = snapshot_start(span)  # None when not sampled
            if snapshot is not None:
                publisher.enqueue(snapshot)
        except Exception:
            self._log_hook_error("on_start")

    def on_end(self, span: ReadableSpan) -> None:
        publisher = self._publisher
        if publisher is None:
            return
        try:
            if span.context.trace_flags.sampled:
                publisher.enqueue(span)
        except Exception:
            self._log_hook_error("on_end")

    def shutdown(self, timeout_millis: float | None = None) -> None:
        """Publish what is queued (within the timeout) and stop. Safe to call twice."""
        if self._publisher is not None:
            self._publisher.shutdown(timeout_millis)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """True once every span event queued before the call has been written to Redis."""
        if self._publisher is None:
            return True
        return self._publisher.force_flush(timeout_millis)

    def stats(self) -> dict[str, Any]:
        """Counters: enqueued, published, dropped (by reason), publish_errors, reconnects, ...

        ``dropped`` maps each reason (``queue_full``, ``shutdown``, ``shutdown_timeout``,
        ``encode_error``, ``rejected``) to a count; ``dropped_total`` is their sum.
        """
        if self._publisher is None:
            return _disabled_stats()
        return {"enabled": True, **self._publisher.stats()}

    def _log_hook_error(self, hook: str) -> None:
        # Never raise into the application; say it once, then stay quiet.
        if not self._hook_error_logged:
            self._hook_error_logged = True
            logger.exception("SwisperStudio: %s failed; span event dropped", hook)


def _disabled_stats() -> dict[str, Any]:
    return {
        "enabled": False,
        "enqueued": 0,
        "published": 0,
        "dropped": dict.fromkeys(DROP_REASONS, 0),
        "dropped_total": 0,
        "publish_errors": 0,
        "reconnects": 0,
        "last_error": None,
        "queue_size": 0,
        "max_queue_size": 0,
        "connected": False,
        "shutdown": False,
    }
