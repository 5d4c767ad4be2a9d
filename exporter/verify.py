"""``verify_connection()``: is tracing going to work from this process?

Four checks, each reported as a bool and summed up in one clear log line:

``redis``       the server answers PING;
``write``       an XADD to the health-check stream succeeds (ACLs, read-only replicas, OOM);
``consumer``    a collector of the consumer group refreshed its heartbeat key recently;
``end_to_end``  (optional) an ``init_request`` event sent on the events stream is answered by
                a collector through its ack key within the timeout.

The three situations an operator meets are logged as such: everything works; Redis works but no
collector runs (events wait in the stream until one starts); Redis is unreachable (tracing is
degraded, the application is not affected). The function never raises.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any

import orjson
import redis
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, attach, detach, set_value
from swisper_studio.exporter import _redis, wire
from swisper_studio.exporter.config import ExporterConfig

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

DEFAULT_GROUP_NAME = "swisper_studio_consumers"
#: A heartbeat older than this means the collector is gone (collectors refresh every 5 s).
HEARTBEAT_TTL_S = 15.0
HEALTH_CHECK_MAXLEN = 10
_POLL_INTERVAL_S = 0.05
#: The original design's keyword names -> the current ones.
KEYWORD_ALIASES = {
    "verify_consumer": "check_consumer",
    "verify_end_to_end": "check_end_to_end",
    "end_to_end": "check_end_to_end",
    "timeout": "timeout_s",
}


def verify_connection(
    redis_url: str | None = None,
    *,
    stream_name: str | None = None,
    group_name: str = DEFAULT_GROUP_NAME,
    check_consumer: bool = True,
    check_end_to_end: bool = False,
    timeout_s: float = 5.0,
    project_id: str | None = None,
    **aliases: Any,
) -> dict[str, bool]:
    """Check Redis, the write path, the collector's heartbeat and optionally a round trip.

    The original design's keyword names are accepted too: ``verify_consumer`` for
    ``check_consumer``, ``verify_end_to_end`` or ``end_to_end`` for ``check_end_to_end``, and
    ``timeout`` for ``timeout_s``.

    Args:
        redis_url: defaults to ``SWISPER_STUDIO_REDIS_URL``, then ``redis://localhost:6379/0``.
        stream_name: the events stream (for the round trip and the heartbeat's stream).
        group_name: the collectors' consumer group.
        check_consumer: look for a fresh heartbeat of ``group_name``.
        check_end_to_end: send an ``init_request`` and wait for the collector's answer.
        timeout_s: socket timeout, and how long to wait for the round trip.
        project_id: written on the ``init_request``; defaults like the exporter's.

    Returns:
        ``{"redis": bool, "write": bool, "consumer": bool, "end_to_end": bool}``; a check that
        was skipped or could not run is False.
    """
    given = {"check_consumer": check_consumer, "check_end_to_end": check_end_to_end}
    given["timeout_s"] = timeout_s
    given.update(_resolve_aliases(aliases))  # an unknown keyword is a TypeError, as in Python
    check_consumer = bool(given["check_consumer"])
    check_end_to_end = bool(given["check_end_to_end"])
    result = {"redis": False, "write": False, "consumer": False, "end_to_end": False}
    try:
        timeout_s = given["timeout_s"]
        config = ExporterConfig(
            redis_url=redis_url, stream_name=stream_name, project_id=project_id, enabled=True
        )
        timeout_s = float(timeout_s)
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
    except (TypeError, ValueError) as exc:
        logger.error("SwisperStudio: cannot verify the connection: %s", exc)
        return result
    try:
        with _suppressed():
            _run_checks(config, group_name, check_consumer, check_end_to_end, timeout_s, result)
    except Exception:  # never raise into the caller; say what happened
        logger.exception("SwisperStudio: connection verification failed unexpectedly")
    return result


def _resolve_aliases(aliases: dict[str, Any]) -> dict[str, Any]:
    """Map the original design's keyword names onto the current ones (``TypeError`` if unknown)."""
    resolved: dict[str, Any] = {}
    for name, value in aliases.items():
        target = KEYWORD_ALIASES.get(name)
        if target is None:
            raise TypeError(f"verify_connection() got an unexpected keyword argument {name!r}")
        resolved[target] = value
    return resolved


def _run_checks(
    config: ExporterConfig,
    group: str,
    check_consumer: bool,
    check_end_to_end: bool,
    timeout_s: float,
    result: dict[str, bool],
) -> None:
    client = _redis.create_client(config.redis_url, timeout_s=timeout_s)
    try:
        error = _ping(client)
        result["redis"] = error is None
        if error is not None:
            _log_unreachable(config, error)
            return
        error = _write_health_check(client)
        result["write"] = error is None
        if error is not None:
            logger.error(
                "SwisperStudio: Redis at %s answers but refuses writes (%s); span events cannot "
                "be stored. The application is not affected.",
                config.redacted_url,
                error,
            )
            return
        age = _freshest_heartbeat_age(client, group, config.stream_name) if check_consumer else None
        result["consumer"] = age is not None and age < HEARTBEAT_TTL_S
        round_trip = None
        if check_end_to_end:
            round_trip = _ping_pong(client, config, timeout_s)
            result["end_to_end"] = round_trip is not None
        _log_outcome(config, group, check_consumer, check_end_to_end, age, round_trip, timeout_s)
    finally:
        _redis.close_quietly(client)


def _ping(client: redis.Redis) -> str | None:
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _write_health_check(client: redis.Redis) -> str | None:
    fields = {
        "timestamp": repr(time.time()),
        "host": socket.gethostname(),
        "pid": str(os.getpid()),
    }
    try:
        client.xadd(wire.HEALTH_CHECK_STREAM, fields, maxlen=HEALTH_CHECK_MAXLEN, approximate=False)
    except (redis.RedisError, OSError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def _freshest_heartbeat_age(client: redis.Redis, group: str, stream: str) -> float | None:
    """Seconds since the freshest heartbeat of ``group`` (for ``stream``), or None if none.

    Reads the per-consumer keys and the original design's single ``LEGACY_HEARTBEAT_KEY``.
    """
    pattern = wire.heartbeat_key(_escape_glob(group), "*")
    try:
        keys = list(client.scan_iter(match=pattern, count=1000))
        keys.append(wire.LEGACY_HEARTBEAT_KEY)
        values = client.mget(keys)
    except (redis.RedisError, OSError) as exc:
        logger.debug("cannot read heartbeats: %s", exc)
        return None
    now = time.time()
    times = (_heartbeat_time(raw, group, stream) for raw in values)
    ages = [now - ts for ts in times if ts is not None]
    return max(min(ages), 0.0) if ages else None


def _heartbeat_time(raw: bytes | None, group: str, stream: str) -> float | None:
    """The heartbeat's unix time, or None when it is unreadable or of another group/stream.

    ``timestamp_unix`` wins; else ``timestamp`` (or ``time``) as unix seconds (number or numeric
    text) or ISO 8601, where a naive time is UTC (the original design's ``utcnow()``).
    """
    if raw is None:
        return None
    try:
        value: Any = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _time_from(raw.decode(errors="replace"))  # a bare timestamp as the value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, dict) or value.get("stream") not in (None, stream):
        return None
    if value.get("group", value.get("group_name")) not in (None, group):
        return None
    for key in ("timestamp_unix", "timestamp", "time"):
        stamp = _time_from(value.get(key))
        if stamp is not None:
            return stamp
    return None


def _time_from(stamp: Any) -> float | None:
    if isinstance(stamp, bool) or stamp is None:
        return None
    if isinstance(stamp, (int, float)):
        return float(stamp)
    if not isinstance(stamp, str):
        return None
    try:
        return float(stamp)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(stamp.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def _ping_pong(client: redis.Redis, config: ExporterConfig, timeout_s: float) -> float | None:
    """Send an ``init_request``; seconds until the collector's ack, or None on timeout."""
    request_id = uuid.uuid4().hex
    fields = wire.encode_init_request(
        request_id, config.project_id, sent_at=time.time(), host=socket.gethostname()
    )
    started = time.monotonic()
    deadline = started + timeout_s
    ack_key = wire.init_ack_key(request_id)
    try:
        client.xadd(config.stream_name, fields, maxlen=config.max_stream_length, approximate=True)
        while True:
            if client.get(ack_key) is not None:
                client.delete(ack_key)
                return time.monotonic() - started
            if time.monotonic() + _POLL_INTERVAL_S > deadline:
                return None
            time.sleep(_POLL_INTERVAL_S)
    except (redis.RedisError, OSError) as exc:
        logger.debug("init_request round trip failed: %s", exc)
        return None


def _log_unreachable(config: ExporterConfig, error: str) -> None:
    logger.warning(
        "SwisperStudio: Redis at %s is unreachable (%s). Tracing is degraded: span events are "
        "buffered in memory and dropped (counted) when the buffer is full; they are published "
        "once Redis is back. The application is not affected.",
        config.redacted_url,
        error,
    )


def _log_outcome(
    config: ExporterConfig,
    group: str,
    check_consumer: bool,
    check_end_to_end: bool,
    age: float | None,
    round_trip: float | None,
    timeout_s: float,
) -> None:
    fresh = age is not None and age < HEARTBEAT_TTL_S
    if check_consumer and not fresh:
        logger.warning(
            "SwisperStudio: Redis at %s works, but no collector of group %r is running (%s). "
            "Span events queue in stream %r until one starts (`swisper-studio collector`).",
            config.redacted_url,
            group,
            "no heartbeat" if age is None else f"last heartbeat {age:.0f} s ago",
            config.stream_name,
        )
    if check_end_to_end and round_trip is None:
        logger.warning(
            "SwisperStudio: no collector answered an init_request on stream %r within %.1f s.",
            config.stream_name,
            timeout_s,
        )
    if (not check_consumer or fresh) and (not check_end_to_end or round_trip is not None):
        parts = [f"Redis at {config.redacted_url} reachable", f"stream {config.stream_name!r}"]
        if check_consumer:
            parts.append(f"collector alive (heartbeat {age:.1f} s ago)")
        if round_trip is not None:
            parts.append(f"end-to-end round trip {round_trip * 1000:.0f} ms")
        logger.info("SwisperStudio: all working: %s.", ", ".join(parts))


def _escape_glob(text: str) -> str:
    return "".join("\\" + ch if ch in "*?[]\\" else ch for ch in text)


@contextlib.contextmanager
def _suppressed() -> Iterator[None]:
    token = attach(set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
    try:
        yield
    finally:
        detach(token)
