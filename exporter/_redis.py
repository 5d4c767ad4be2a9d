"""Redis client factory for the exporter: explicit timeouts, no hidden retries."""

from __future__ import annotations

import logging

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
_TRANSIENT_REPLIES = (
    "OOM",
    "LOADING",
    "BUSY",
    "READONLY",
    "MASTERDOWN",
    "TRYAGAIN",
    "CLUSTERDOWN",
    "NOREPLICAS",
)


def is_transient_reply(exc: BaseException) -> bool:
    """True for a Redis error reply that may succeed when retried later."""
    return str(exc).startswith(_TRANSIENT_REPLIES)


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
