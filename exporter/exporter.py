"""``RedisStreamSpanExporter``: the same wire format for an existing ``BatchSpanProcessor``.

For applications that already run OpenTelemetry's ``BatchSpanProcessor`` (or configure the SDK
with ``OTEL_TRACES_EXPORTER=redis_streams opentelemetry-instrument ...``). It sends ``span_end``
events only, because an exporter never sees a span start; use ``RedisStreamSpanProcessor`` to
get in-progress spans as well. The batching, queueing and ``OTEL_BSP_*`` settings are the
``BatchSpanProcessor``'s; this class writes one batch per ``export`` call with a pipelined
``XADD ... MAXLEN ~ N`` and retries connection failures with backoff until the export timeout.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Sequence

import redis
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, attach, detach, set_value
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from swisper_studio.exporter import _redis
from swisper_studio.exporter._encoder import SpanEventEncoder
from swisper_studio.exporter.config import ExporterConfig, resolve_config

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

_BACKOFF_BASE_S = 0.05
_BACKOFF_CAP_S = 1.0
_LOG_INTERVAL_S = 10.0


class RedisStreamSpanExporter(SpanExporter):
    """Writes finished spans as ``span_end`` events to a Redis stream.

    Constructible with no arguments (settings from ``SWISPER_STUDIO_*``), as OpenTelemetry's
    ``OTEL_TRACES_EXPORTER`` loader requires. ``export`` never raises: it returns
    ``SpanExportResult.FAILURE`` when any span of the batch was not written.

    Args:
        redis_url: ``redis://``, ``rediss://`` or ``unix://`` URL (passwords allowed).
        stream_name: stream key, default ``observability:events``.
        project_id: SwisperStudio project id written on every event, default ``default``.
        max_stream_length: approximate MAXLEN of the stream, default 100000.
        export_timeout_millis: socket timeout and retry budget of one export, default 5000.
        enabled: False makes ``export`` a no-op that reports success.
        config: a complete ``ExporterConfig`` instead of the arguments above.
    """

    def __init__(
        self,
        *,
        redis_url: str | None = None,
        stream_name: str | None = None,
        project_id: str | None = None,
        max_stream_length: int | None = None,
        export_timeout_millis: int | None = None,
        enabled: bool | None = None,
        config: ExporterConfig | None = None,
    ) -> None:
        settings = {
            "redis_url": redis_url,
            "stream_name": stream_name,
            "project_id": project_id,
            "max_stream_length": max_stream_length,
            "export_timeout_millis": export_timeout_millis,
            "enabled": enabled,
        }
        self.config = resolve_config(config, settings)
        self._encoder = SpanEventEncoder(self.config.project_id)
        self._client: redis.Redis | None = None
        self._shutdown = False
        # Interrupts a retry backoff when shutdown is called (from another thread).
        self._shutdown_event = threading.Event()
        self._last_log = 0.0

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._shutdown:
            logger.warning("SwisperStudio: exporter is shut down; %d spans not sent", len(spans))
            return SpanExportResult.FAILURE
        if not self.config.enabled or not spans:
            return SpanExportResult.SUCCESS
        token = attach(set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
        try:
            entries, complete = self._encode(spans)
            if entries and not self._send(entries):
                return SpanExportResult.FAILURE
            return SpanExportResult.SUCCESS if complete else SpanExportResult.FAILURE
        except Exception:  # never raise into the BatchSpanProcessor's worker
            logger.exception("SwisperStudio: unexpected error while exporting spans")
            return SpanExportResult.FAILURE
        finally:
            detach(token)

    def _encode(self, spans: Sequence[ReadableSpan]) -> tuple[list[dict], bool]:
        entries = []
        for span in spans:
            try:
                entries.append(self._encoder.encode_end(span))
            except Exception:
                logger.warning("SwisperStudio: cannot encode span %r; dropped", span, exc_info=True)
        return entries, len(entries) == len(spans)

    def _send(self, entries: list[dict]) -> bool:
        """Pipelined XADDs; connection failures and transient refusals retried until timeout."""
        deadline = time.monotonic() + self.config.timeout_s
        attempt = 0
        while True:
            try:
                results = self._xadd(entries)
            except (*_redis.CONNECTION_ERRORS, redis.RedisError) as exc:
                error = f"{type(exc).__name__}: {exc}"
            else:
                failed = [
                    (fields, result)
                    for fields, result in zip(entries, results, strict=True)
                    if isinstance(result, Exception)
                ]
                if not failed:
                    return True
                error = f"{type(failed[0][1]).__name__}: {failed[0][1]}"
                if not all(_redis.is_transient_reply(result) for _, result in failed):
                    logger.error("SwisperStudio: Redis refused span events (%s)", error)
                    return False
                entries = [fields for fields, _ in failed]
            attempt += 1
            delay = _backoff(attempt)
            if time.monotonic() + delay > deadline:
                self._log_failure(error, len(entries))
                return False
            if self._shutdown_event.wait(delay):
                return False

    def _xadd(self, entries: list[dict]) -> list:
        if self._client is None:
            self._client = _redis.create_client(
                self.config.redis_url, timeout_s=self.config.timeout_s
            )
        return _redis.xadd_batch(
            self._client,
            self.config.stream_name,
            entries,
            maxlen=self.config.max_stream_length,
        )

    def _log_failure(self, error: str, count: int) -> None:
        now = time.monotonic()
        if now - self._last_log >= _LOG_INTERVAL_S:
            self._last_log = now
            logger.warning(
                "SwisperStudio: could not write %d span events to Redis at %s (%s); "
                "the batch is reported as failed. The application is not affected.",
                count,
                self.config.redacted_url,
                error,
            )

    def shutdown(self) -> None:
        """Stop accepting spans and close the connection. Safe to call twice."""
        if self._shutdown:
            return
        self._shutdown = True
        self._shutdown_event.set()
        _redis.close_quietly(self._client)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Nothing is buffered here: every ``export`` call writes before it returns."""
        return True


def _backoff(attempt: int) -> float:
    delay = min(_BACKOFF_CAP_S, _BACKOFF_BASE_S * (2 ** min(attempt, 16)))
    return delay / 2 + random.uniform(0, delay / 2)
