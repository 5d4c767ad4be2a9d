"""Redis client factory for the exporter: explicit timeouts, no hidden retries."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

#: Errors that mean "the server is unreachable or slow right now": keep the batch and retry.
CONNECTION_ERRORS: tuple[type[BaseException], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    OSError,
)

# Server replies that describe a passing state (out of memory, loading, failover, ...):
# worth retrying, unlike a command the server will always refuse (WRONGTYPE, NOPERM, ...).
# redis-py strips the code from the message of the replies it maps to classes, so both the
# classes and the codes are checked.
_TRANSIENT_CODES = frozenset(
    {"OOM", "LOADING", "BUSY", "READONLY", "MASTERDOWN", "TRYAGAIN", "CLUSTERDOWN", "NOREPLICAS"}
)
_TRANSIENT_CLASSES: tuple[type[BaseException], ...] = tuple(
    getattr(redis.exceptions, name)
    for name in (
        "OutOfMemoryError",
        "BusyLoadingError",
        "ReadOnlyError",
        "MasterDownError",
        "TryAgainError",
        "ClusterDownError",
    )
    if hasattr(redis.exceptions, name)
)


def is_transient_reply(exc: BaseException) -> bool:
    """True for a Redis error reply that may succeed when retried later."""
    if isinstance(exc, _TRANSIENT_CLASSES):
        return True
    code = getattr(exc, "status_code", None) or str(exc).split(" ", 1)[0]
    return code in _TRANSIENT_CODES


def create_client(url: str, *, timeout_s: float, client_name: str | None = None) -> redis.Redis:
    """A client for ``url`` with connect/socket timeouts and no automatic retries.

    The callers retry on their own terms (the publisher keeps its batch and backs off), so
    redis-py's built-in retry loop (three attempts by default in redis-py >= 6) is turned off:
    it would only make a failed call take longer. Creating a client does not connect.
    """
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
        retry_on_timeout=False,
        health_check_interval=0,
        client_name=client_name,
    )


def ping(client: redis.Redis) -> bool:
    """True when the server answers PING within the client's timeout; never raises."""
    try:
        return bool(client.ping())
    except (redis.RedisError, OSError) as exc:
        logger.debug("PING failed: %s: %s", type(exc).__name__, exc)
        return False


def close_quietly(client: redis.Redis | None) -> None:
    """Close ``client`` and its pool, ignoring errors (used on shutdown and after fork)."""
    if client is None:
        return
    try:
        client.close()
    except Exception:  # closing a broken connection may raise; nothing left to do
        logger.debug("error while closing the Redis client", exc_info=True)


def xadd_batch(
    client: redis.Redis,
    stream: str,
    entries: Sequence[Mapping[bytes, bytes]],
    *,
    maxlen: int,
) -> list[Any]:
    """``XADD stream MAXLEN ~ maxlen * ...`` for each entry, in one round trip, no MULTI.

    Returns one result per entry: the new entry id, or the ``ResponseError`` the server
    answered for that entry. Connection errors and timeouts are raised (the connection is then
    dropped, so a half-read reply never leaks into the next call).

    The commands are packed here and written as one buffer on a pooled connection: redis-py's
    ``Pipeline`` spends about 10 us of client CPU per XADD on bookkeeping and argument
    encoding, this about 3 us (bench/bench_exporter.py), which is most of the publisher's cost.
    """
    head = _xadd_head(stream, maxlen)
    packed = b"".join([_pack_xadd(head, fields) for fields in entries])
    pool = client.connection_pool
    connection = _get_connection(pool)
    try:
        connection.send_packed_command([packed])
        results: list[Any] = []
        for _ in entries:
            try:
                results.append(connection.read_response())
            except redis.ResponseError as exc:  # an error reply: the connection is fine
                results.append(exc)
        return results
    except BaseException:
        connection.disconnect()
        raise
    finally:
        pool.release(connection)


def _bulk(value: bytes) -> bytes:
    return b"$%d\r\n%b\r\n" % (len(value), value)


def _xadd_head(stream: str, maxlen: int) -> bytes:
    """The packed arguments ``XADD <stream> MAXLEN ~ <maxlen> *`` (without the array header)."""
    args = (b"XADD", stream.encode(), b"MAXLEN", b"~", str(maxlen).encode(), b"*")
    return b"".join(_bulk(arg) for arg in args)


def _pack_xadd(head: bytes, fields: Mapping[Any, Any]) -> bytes:
    """One XADD in RESP: an array of 6 + 2 * len(fields) bulk strings."""
    try:
        parts = [b"*%d\r\n" % (6 + 2 * len(fields)), head]
        for key, value in fields.items():
            parts.append(b"$%d\r\n%b\r\n$%d\r\n%b\r\n" % (len(key), key, len(value), value))
        return b"".join(parts)
    except TypeError:  # a str (or number) among the fields: the wire encoders give bytes
        return _pack_xadd(head, {_as_bytes(k): _as_bytes(v) for k, v in fields.items()})


def _as_bytes(value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    return (value if isinstance(value, str) else str(value)).encode()


def _get_connection(pool: redis.ConnectionPool) -> Any:
    try:
        return pool.get_connection()
    except TypeError:  # redis-py < 5.3 requires a command name
        return pool.get_connection("XADD")
