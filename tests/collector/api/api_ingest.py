"""Drive the real collector over a test's stream until everything published is stored."""

from __future__ import annotations

import redis
from swisper_studio.collector.mapping import map_events
from swisper_studio.collector.settings import Settings
from swisper_studio.collector.store import Store
from swisper_studio.exporter.wire import SpanEvent, decode_entry


class Ingestor:
    """Interim: reads the stream and writes through the collector's mapping and store."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.client = redis.Redis.from_url(settings.redis_url)
        self.store = Store(settings.database_url)
        self.last_id = "-"

    def drain(self) -> None:
        entries = self.client.xrange(self.settings.stream_name, min=self.last_id)
        if self.last_id != "-":
            entries = [e for e in entries if e[0].decode() != self.last_id]
        if not entries:
            return
        events = [decode_entry(fields) for _, fields in entries]
        self.store.write(map_events(e for e in events if isinstance(e, SpanEvent)))
        self.last_id = entries[-1][0].decode()

    def close(self) -> None:
        self.store.close()
        self.client.close()
