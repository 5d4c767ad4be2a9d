"""Test helpers: spans into a Redis stream (wire encoders), the real collector over it, uvicorn."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import redis
import uvicorn
from opentelemetry.sdk.trace import SpanProcessor
from servers import free_port, wait_for
from swisper_studio.collector.consumer import Consumer
from swisper_studio.collector.settings import Settings
from swisper_studio.exporter.wire import encode_resource, encode_span_end, encode_span_start


class Ingestor:
    """A ``Consumer`` in a background thread, as ``swisper-studio collector`` runs it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client = redis.Redis.from_url(settings.redis_url)
        self.consumer = Consumer(settings)
        self.thread = threading.Thread(
            target=self.consumer.run,
            kwargs={"install_signal_handlers": False},
            name="test-collector",
            daemon=True,
        )
        self.thread.start()

    def _caught_up(self) -> bool:
        stream, group = self.settings.stream_name, self.settings.group_name
        last = self.client.xrevrange(stream, count=1)
        if not last:
            return True
        for info in self.client.xinfo_groups(stream):
            if info["name"].decode() == group:
                delivered = info["last-delivered-id"]
                return delivered == last[0][0] and info["pending"] == 0
        return False

    def drain(self, timeout: float = 30.0) -> None:
        """Wait until every entry in the stream has been read, stored and acknowledged."""
        wait_for(self._caught_up, timeout=timeout, what="the collector to catch up")

    def close(self) -> None:
        self.consumer.stop()
        self.thread.join(10)
        self.client.close()


class WireSpanProcessor(SpanProcessor):
    """Publishes each span's start and end to a Redis stream, synchronously (test helper).

    Synchronous on purpose: a test knows every event is in the stream when the span call
    returns, and a span left open has its ``span_start`` in the stream (a running span).
    """

    def __init__(self, client: redis.Redis, stream: str, project_id: str) -> None:
        self.client = client
        self.stream = stream
        self.project_id = project_id

    def on_start(self, span, parent_context=None) -> None:
        ctx = span.get_span_context()
        fields = encode_span_start(
            project_id=self.project_id,
            trace_id=ctx.trace_id,
            span_id=ctx.span_id,
            parent_span_id=span.parent.span_id if span.parent else None,
            name=span.name,
            kind=span.kind.name,
            start_time_unix_nano=span.start_time,
            attributes=span.attributes,
            resource=encode_resource(span.resource),
        )
        self.client.xadd(self.stream, fields)

    def on_end(self, span) -> None:
        self.client.xadd(self.stream, encode_span_end(span, project_id=self.project_id))


def serve(app) -> Iterator[str]:
    config = uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="test-uvicorn", daemon=True)
    thread.start()
    try:
        wait_for(lambda: server.started, timeout=30, what="uvicorn to start")
        yield f"http://127.0.0.1:{config.port}"
    finally:
        server.should_exit = True
        thread.join(15)
