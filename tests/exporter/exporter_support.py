"""Helpers for the exporter tests (a uniquely named module, importable from any test file)."""

from __future__ import annotations

import redis
from swisper_studio.exporter.wire import InitRequest, SpanEvent, decode_entry


def read_entries(url: str, stream: str) -> list[tuple[bytes, dict]]:
    client = redis.Redis.from_url(url)
    try:
        return client.xrange(stream)
    finally:
        client.close()


def read_events(url: str, stream: str) -> list[SpanEvent | InitRequest]:
    """Every entry of ``stream``, decoded with the wire module (in stream order)."""
    return [decode_entry(fields) for _, fields in read_entries(url, stream)]


def stream_length(url: str, stream: str) -> int:
    client = redis.Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1)
    try:
        return client.xlen(stream)
    finally:
        client.close()
