"""Pipeline health from Redis alone: consumer heartbeats, stream length, lag, trimming risk.

Used by the Studio API (connection status, metrics), by ``swisper-studio status`` and by the
consumer itself (the trimming check). :func:`pipeline_health` never raises: an unreachable Redis
is reported as ``status: "down"`` with the error.

Status rules: ``down`` when Redis is unreachable or no consumer of the group has a live
heartbeat; ``degraded`` when the group lags or has many pending entries, when MAXLEN trimming
deletes (or is about to delete) entries the group has not read, or when entries were
dead-lettered recently; ``healthy`` otherwise.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from typing import Any

import orjson
import redis
from swisper_studio.collector.settings import Settings
from swisper_studio.exporter.wire import HEARTBEAT_PREFIX, LEGACY_HEARTBEAT_KEY, heartbeat_key

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

HEALTHY, DEGRADED, DOWN = "healthy", "degraded", "down"
EXIT_CODES = {HEALTHY: 0, DEGRADED: 1, DOWN: 2}
LAG_WARNING = 10_000
"""Unread entries (group lag) or pending entries above which the pipeline counts as degraded."""
DEAD_LETTER_RECENT_S = 900.0
"""A dead-letter entry younger than this makes the pipeline degraded."""


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def parse_id(entry_id: Any) -> tuple[int, int]:
    """``"1700000000000-3"`` -> ``(1700000000000, 3)``; ``None`` -> ``(0, 0)``."""
    text = _text(entry_id)
    if not text:
        return (0, 0)
    ms, _, seq = str(text).partition("-")
    return (int(ms), int(seq or 0))


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat()


def trimming_warnings(stream_info: dict[str, Any], group_info: dict[str, Any]) -> list[str]:
    """Warnings when MAXLEN trimming deleted, or is about to delete, entries not yet read.

    Redis trims regardless of consumer groups. When the stream's oldest entry is newer than the
    group's ``last-delivered-id``, everything left in the stream is unread; if more entries were
    added than were read plus those still there, unread entries are gone (``entries-added -
    entries-read > length``). If none are lost yet but the stream is being trimmed, the next trim
    deletes unread entries.
    """
    last_delivered = parse_id(group_info.get("last-delivered-id"))
    max_deleted = parse_id(stream_info.get("max-deleted-entry-id"))
    first = stream_info.get("first-entry")
    if not first or parse_id(first[0]) <= last_delivered:
        return []
    length = int(stream_info.get("length") or 0)
    added = stream_info.get("entries-added")
    entries_read = group_info.get("entries-read")
    if entries_read is None and last_delivered == (0, 0):
        entries_read = 0
    where = f"group read up to {last_delivered[0]}-{last_delivered[1]}"
    if max_deleted > last_delivered or (
        added is not None and entries_read is not None and added - entries_read > length
    ):
        lost = "" if added is None or entries_read is None else f"{added - entries_read - length} "
        return [
            f"stream trimming deleted {lost}entries the consumer group had not read yet "
            f"({where}): raise MAXLEN or add collectors"
        ]
    if added is None or added > length:
        return [
            "the consumer group is behind the oldest entry of a trimmed stream: the next "
            f"MAXLEN trim deletes unread entries ({where}); raise MAXLEN or add collectors"
        ]
    return []


def find_group(groups: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    for group in groups:
        if _text(group.get("name")) == name:
            return group
    return None


def heartbeat_time(beat: dict[str, Any]) -> float | None:
    """Unix time of a heartbeat: ``timestamp_unix``, else ``timestamp`` as unix seconds (number or
    numeric text) or ISO 8601 (a naive time is UTC, as the original design's ``utcnow()``)."""
    for key in ("timestamp_unix", "timestamp"):
        stamp = beat.get(key)
        if isinstance(stamp, bool) or stamp is None:
            continue
        if isinstance(stamp, (int, float)):
            return float(stamp)
        if isinstance(stamp, str):
            parsed = _parse_time_text(stamp)
            if parsed is not None:
                return parsed
    return None


def _parse_time_text(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def read_heartbeats(client: redis.Redis, settings: Settings) -> list[dict[str, Any]]:
    """Live heartbeat values of the group's consumers (keys expire with their TTL).

    Besides the per-consumer keys, the original design's single ``LEGACY_HEARTBEAT_KEY`` counts
    when its value names this group (or no group).
    """
    pattern = heartbeat_key(_escape_glob(settings.group_name), "*")
    keys = sorted(client.scan_iter(match=pattern, count=1000))
    keys.append(LEGACY_HEARTBEAT_KEY.encode())
    beats = []
    for raw in client.mget(keys):
        beat = _load_beat(raw)
        if beat is None or beat.get("stream") not in (None, settings.stream_name):
            continue
        if beat.get("group", beat.get("group_name")) not in (None, settings.group_name):
            continue
        beats.append(beat)
    return beats


def _load_beat(raw: bytes | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        beat = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return beat if isinstance(beat, dict) else None


def _escape_glob(text: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)


def _dead_letter_age(client: redis.Redis, stream: str, now: float) -> float | None:
    newest = client.xrevrange(stream, count=1)
    if not newest:
        return None
    return max(0.0, now - parse_id(newest[0][0])[0] / 1000.0)


def pipeline_health(client: redis.Redis, settings: Settings) -> dict[str, Any]:
    """A JSON-ready health report of the Redis side of the pipeline; never raises."""
    now = time.time()
    report: dict[str, Any] = {
        "status": DOWN,
        "stream": settings.stream_name,
        "group": settings.group_name,
        "consumer_alive": False,
        "last_heartbeat": None,
        "heartbeat_age_seconds": None,
        "consumers": [],
        "stream_length": None,
        "pending_events": None,
        "group_lag": None,
        "dead_lettered": None,
        "dead_letter_age_seconds": None,
        "trimming_risk": False,
        "warnings": [],
        "error": None,
        "checked_at": iso(now),
    }
    try:
        _fill(report, client, settings, now)
    except Exception as exc:  # Redis unreachable or anything unexpected: report, never raise
        report["status"] = DOWN
        report["error"] = f"{type(exc).__name__}: {exc}"
        logger.debug("health check failed: %s", exc)
        return report
    report["status"] = _status(report, settings)
    return report


def _fill(report: dict[str, Any], client: redis.Redis, settings: Settings, now: float) -> None:
    beats = read_heartbeats(client, settings)
    times = [heartbeat_time(b) or 0.0 for b in beats]
    live = [b for b, ts in zip(beats, times, strict=True) if now - ts <= settings.heartbeat_ttl_s]
    report["consumers"] = beats
    report["consumer_alive"] = bool(live)
    if beats:
        newest = max(times)
        report["last_heartbeat"] = iso(newest)
        report["heartbeat_age_seconds"] = round(max(0.0, now - newest), 3)

    report["dead_lettered"] = client.xlen(settings.dead_letter_stream_name)
    if report["dead_lettered"]:
        report["dead_letter_age_seconds"] = _dead_letter_age(
            client, settings.dead_letter_stream_name, now
        )
    if not client.exists(settings.stream_name):
        report["stream_length"] = 0
        return
    stream_info = client.xinfo_stream(settings.stream_name)
    report["stream_length"] = stream_info.get("length")
    group = find_group(client.xinfo_groups(settings.stream_name), settings.group_name)
    if group is None:
        report["warnings"].append(f"consumer group {settings.group_name!r} does not exist yet")
        report["group_lag"] = report["stream_length"]
        return
    report["pending_events"] = group.get("pending")
    report["group_lag"] = group.get("lag")
    warnings = trimming_warnings(stream_info, group)
    report["trimming_risk"] = bool(warnings)
    report["warnings"].extend(warnings)


def _status(report: dict[str, Any], settings: Settings) -> str:
    if not report["consumer_alive"]:
        report["warnings"].append(f"no live collector in group {settings.group_name!r}")
        return DOWN
    degraded = report["trimming_risk"]
    lag = report["group_lag"]
    if lag is not None and lag > LAG_WARNING:
        report["warnings"].append(f"collectors are {lag} entries behind")
        degraded = True
    pending = report["pending_events"]
    if pending is not None and pending > LAG_WARNING:
        report["warnings"].append(f"{pending} entries delivered but not acknowledged")
        degraded = True
    age = report["dead_letter_age_seconds"]
    if age is not None and age < DEAD_LETTER_RECENT_S:
        report["warnings"].append(
            f"entries were dead-lettered {age:.0f}s ago ({settings.dead_letter_stream_name})"
        )
        degraded = True
    return DEGRADED if degraded else HEALTHY


def check(settings: Settings) -> int:
    """Exit code for scripts: 0 healthy, 1 degraded, 2 down."""
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=5, socket_connect_timeout=5)
    try:
        report = pipeline_health(client, settings)
    finally:
        client.close()
    for warning in report["warnings"]:
        logger.warning("%s", warning)
    if report["error"]:
        logger.error("redis unreachable: %s", report["error"])
    return EXIT_CODES[report["status"]]


__all__ = [
    "DEGRADED",
    "DOWN",
    "HEALTHY",
    "HEARTBEAT_PREFIX",
    "check",
    "pipeline_health",
    "trimming_warnings",
]
