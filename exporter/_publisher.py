"""The publisher: a bounded in-memory queue drained by one daemon thread into a Redis stream.

Callers (``on_start``/``on_end`` on the application's threads) only append to a ``deque``; no
lock on the common path, no I/O, no exception. The publisher thread wakes up when the queue
holds a batch or when the schedule delay passes, encodes the events, and writes each batch in
chunks of ``_CHUNK`` events, each one non-transactional pipeline of
``XADD <stream> MAXLEN ~ N * ...``, releasing the GIL between chunks (see ``_yield_gil``).

Failure model:

* Redis unreachable or slow: the batch is kept and retried with jittered exponential backoff;
  the backoff sleeps on an event that shutdown sets when its deadline passes. New events keep
  queueing; when the queue is full the *oldest* event is dropped and counted (``queue_full``).
* A retried pipeline may have been partly applied, so an entry can be written twice; the
  collector is idempotent, a duplicate is harmless.
* A command the server refuses for good (``WRONGTYPE`` ...) drops that entry (``rejected``);
  an event that cannot be encoded is dropped (``encode_error``). Every drop is counted by reason
  and logged at most once per ``_LOG_INTERVAL_S``.

``force_flush`` puts a marker in the queue and waits until the publisher has written the batch
that holds it: True means every event enqueued before the call is in Redis. Evictions, encode
errors and rejections count as losses; a flush returns False if one of its events was lost.
"""

from __future__ import annotations

import atexit
import logging
import os
import random
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from typing import Any

import redis
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY, attach, detach, set_value
from swisper_studio.exporter import _redis
from swisper_studio.exporter.config import ExporterConfig

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

DROP_REASONS = ("queue_full", "shutdown", "shutdown_timeout", "encode_error", "rejected")

_BACKOFF_BASE_S = 0.05
_BACKOFF_CAP_S = 2.0
_LOG_INTERVAL_S = 10.0
_THREAD_NAME = "SwisperStudioPublisher"
# GIL fairness (see _yield_gil): events encoded and written per step of a batch.
_CHUNK = 64

Encoder = Callable[[Any], dict]


class _FlushMarker:
    """Placed in the queue by ``force_flush``; resolved when the batch holding it is written."""

    __slots__ = ("done", "losses_at_call", "ok")

    def __init__(self, losses_at_call: int) -> None:
        self.done = threading.Event()
        self.losses_at_call = losses_at_call
        self.ok = False

    def resolve(self, ok: bool) -> None:
        self.ok = ok
        self.done.set()


class Publisher:
    """Queue + daemon thread writing encoded events to ``config.stream_name``.

    Args:
        config: the resolved settings (queue and batch sizes, stream, MAXLEN, timeouts).
        encode: turns one queued item into stream fields; runs on the publisher thread.
        client_factory: builds the Redis client (tests pass a wrapper to watch the calls).
    """

    def __init__(
        self,
        config: ExporterConfig,
        encode: Encoder,
        *,
        client_factory: Callable[[ExporterConfig], redis.Redis] | None = None,
    ) -> None:
        self._config = config
        self._encode = encode
        self._client_factory = client_factory or _default_client
        self._max_queue_size = config.max_queue_size
        self._batch_size = config.max_batch_size
        self._delay_s = config.schedule_delay_millis / 1000.0
        self._shutdown = False
        self._init_state()
        _register_at_fork(self)
        self._atexit = _register_atexit(self)
        self._thread.start()

    # ------------------------------------------------------------------ state and fork

    def _init_state(self) -> None:
        self._pid = os.getpid()
        self._queue: deque[Any] = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()  # shutdown requested: drain, then exit
        self._abandon = threading.Event()  # shutdown deadline passed: give up now
        self._drop_lock = threading.Lock()
        self._fork_lock = threading.Lock()
        self._shutdown_lock = threading.Lock()
        self._client: redis.Redis | None = None
        self._enqueued = 0
        self._published = 0
        self._losses = 0  # events accepted into the queue and then not written
        self._dropped = dict.fromkeys(DROP_REASONS, 0)
        self._dropped_logged = 0
        self._last_drop_log = 0.0
        self._publish_errors = 0
        self._reconnects = 0
        self._failing_since: float | None = None
        self._last_error: str | None = None
        self._last_error_log = 0.0
        self._thread = threading.Thread(target=self._run, name=_THREAD_NAME, daemon=True)

    def _at_fork_reinit(self) -> None:
        """In a forked child: a fresh queue, client and thread (the parent's events stay there)."""
        if self._shutdown:
            self._pid = os.getpid()
            return
        self._init_state()
        self._thread.start()

    def _check_pid(self) -> None:
        # Fallback for forks that bypass os.register_at_fork hooks.
        with self._fork_lock:
            if self._pid != os.getpid():
                self._at_fork_reinit()

    # ------------------------------------------------------------------ caller side

    def enqueue(self, item: Any) -> None:
        """Queue one event. Never blocks, never raises, does no I/O."""
        if self._shutdown:
            self._count_drop("shutdown", loss=False)
            return
        if self._pid != os.getpid():
            self._check_pid()
        queue = self._queue
        if len(queue) >= self._max_queue_size:
            self._evict_oldest()
        queue.append(item)
        self._enqueued += 1
        if len(queue) >= self._batch_size and not self._wake.is_set():
            self._wake.set()

    def _evict_oldest(self) -> None:
        """Make room: drop the oldest events until the queue is below its bound."""
        queue = self._queue
        while len(queue) >= self._max_queue_size:
            # Count before popping: a publisher that pops a flush marker after this eviction
            # must see the loss (see force_flush).
            with self._drop_lock:
                self._losses += 1
                self._dropped["queue_full"] += 1
            try:
                victim = queue.popleft()
            except IndexError:  # the publisher emptied the queue meanwhile
                victim = None
            if victim is None or type(victim) is _FlushMarker:
                with self._drop_lock:
                    self._losses -= 1
                    self._dropped["queue_full"] -= 1
                if victim is not None:
                    victim.resolve(False)

    def _count_drop(self, reason: str, n: int = 1, *, loss: bool = True) -> None:
        with self._drop_lock:
            self._dropped[reason] += n
            if loss:
                self._losses += n

    def force_flush(self, timeout_millis: float = 30_000) -> bool:
        """True once every event enqueued before this call has been written to Redis."""
        if self._shutdown:
            return False
        if self._pid != os.getpid():
            self._check_pid()
        marker = _FlushMarker(self._losses)
        if len(self._queue) >= self._max_queue_size:
            self._evict_oldest()
            marker.losses_at_call = -1  # an event from before the call was just dropped
        self._queue.append(marker)
        self._wake.set()
        if not marker.done.wait(max(timeout_millis, 0) / 1000.0):
            return False
        return marker.ok

    def shutdown(self, timeout_millis: float | None = None) -> bool:
        """Publish what is queued (bounded by the timeout), stop the thread. Idempotent.

        Returns True when every queued event was written. ``timeout_millis`` defaults to the
        export timeout (``SWISPER_STUDIO_EXPORT_TIMEOUT_MILLIS``), so a process whose Redis is
        gone still exits promptly.
        """
        with self._shutdown_lock:
            if self._shutdown:
                return True
            self._shutdown = True
        if timeout_millis is None:
            timeout_millis = self._config.export_timeout_millis
        deadline = time.monotonic() + max(timeout_millis, 0) / 1000.0
        self._stop.set()
        self._wake.set()
        if threading.current_thread() is self._thread:  # e.g. a span hook on our own thread
            return False
        if self._thread.is_alive():
            self._thread.join(max(deadline - time.monotonic(), 0))
        clean = not self._thread.is_alive() and not self._queue
        if not clean:
            self._abandon.set()  # the thread stops retrying and counts what it leaves behind
            self._thread.join(0.1)
        if self._atexit is not None:
            atexit.unregister(self._atexit)
            self._atexit = None
        if not self._thread.is_alive():
            _redis.close_quietly(self._client)
        self._log_drops(force=True)
        if not clean:
            logger.warning(
                "SwisperStudio: shutdown deadline passed with %d span events unpublished",
                len(self._queue) + self._dropped["shutdown_timeout"],
            )
        return clean

    def stats(self) -> dict[str, Any]:
        """Counters since start (or since fork, in a child process)."""
        with self._drop_lock:
            dropped = dict(self._dropped)
        return {
            "enqueued": self._enqueued,
            "published": self._published,
            "dropped": dropped,
            "dropped_total": sum(dropped.values()),
            "publish_errors": self._publish_errors,
            "reconnects": self._reconnects,
            "last_error": self._last_error,
            "queue_size": len(self._queue),
            "max_queue_size": self._max_queue_size,
            "connected": self._failing_since is None,
            "shutdown": self._shutdown,
        }

    # ------------------------------------------------------------------ publisher thread

    def _run(self) -> None:
        token = attach(set_value(_SUPPRESS_INSTRUMENTATION_KEY, True))
        try:
            self._client = self._client_factory(self._config)
            self._check_connection()
            while True:
                if len(self._queue) < self._batch_size:
                    self._wake.wait(self._delay_s)
                self._wake.clear()
                self._drain()
                self._log_drops()
                if self._stop.is_set() and (not self._queue or self._abandon.is_set()):
                    break
            self._abandon_queue()
        except Exception:  # the thread must never die silently
            logger.exception("SwisperStudio publisher thread crashed; span events are dropped")
        finally:
            detach(token)

    def _check_connection(self) -> None:
        """One PING at start-up, so an unreachable Redis is reported even before any span."""
        if _redis.ping(self._client):
            logger.debug("SwisperStudio: connected to Redis at %s", self._config.redacted_url)
            return
        self._failing_since = time.monotonic()
        self._last_error = "PING failed"
        logger.warning(
            "SwisperStudio: Redis at %s is unreachable; span events are kept in memory (up to "
            "%d) and published when it is back. The application is not affected.",
            self._config.redacted_url,
            self._max_queue_size,
        )

    def _drain(self) -> None:
        while self._queue and not self._abandon.is_set():
            items, markers = self._take_batch()
            self._publish(items, markers)

    def _take_batch(self) -> tuple[list[Any], list[tuple[_FlushMarker, int, int]]]:
        """Pop up to one batch; each marker comes with its position and the losses so far."""
        items: list[Any] = []
        markers: list[tuple[_FlushMarker, int, int]] = []
        queue = self._queue
        while len(items) < self._batch_size:
            try:
                item = queue.popleft()
            except IndexError:
                break
            if type(item) is _FlushMarker:
                markers.append((item, len(items), self._losses))
            else:
                items.append(item)
        return items, markers

    def _publish(self, items: list[Any], markers: list[tuple[_FlushMarker, int, int]]) -> None:
        """Encode and write ``items`` chunk by chunk, then resolve the flush markers."""
        failed: list[int] = []
        written = True
        chunk = _CHUNK
        for begin in range(0, len(items), chunk):
            if begin and len(self._queue) < self._batch_size:
                _yield_gil()  # no backlog: fairness to the application first (see _yield_gil)
            entries = self._encode_chunk(items[begin : begin + chunk], begin, failed)
            if entries and not self._send(entries, failed):
                written = False
        for marker, position, losses_at_pop in markers:
            ok = (
                written
                and losses_at_pop == marker.losses_at_call
                and not any(index < position for index in failed)
            )
            marker.resolve(ok)

    def _encode_chunk(
        self, items: list[Any], first_index: int, failed: list[int]
    ) -> list[tuple[int, dict]]:
        """Encode ``items`` (batch positions from ``first_index``); unencodable ones are dropped."""
        entries: list[tuple[int, dict]] = []
        encode = self._encode
        errors = 0
        for index, item in enumerate(items, first_index):
            try:
                entries.append((index, encode(item)))
            except Exception:
                errors += 1
                failed.append(index)
                logger.debug("SwisperStudio: cannot encode a span event", exc_info=True)
        if errors:
            self._count_drop("encode_error", errors)
            logger.warning("SwisperStudio: dropped %d span events (encode error)", errors)
        return entries

    def _send(self, entries: list[tuple[int, dict]], failed: list[int]) -> bool:
        """Write ``entries``, retrying until done or abandoned; appends lost indexes to failed."""
        attempt = 0
        while entries:
            if self._abandon.is_set():
                self._count_drop("shutdown_timeout", len(entries))
                failed.extend(index for index, _ in entries)
                return False
            try:
                results = self._xadd_batch([fields for _, fields in entries])
            except (*_redis.CONNECTION_ERRORS, redis.RedisError) as exc:
                attempt += 1
                self._on_failure(exc, len(entries))
                self._abandon.wait(_backoff(attempt))
                continue
            entries = self._sort_results(entries, results, failed)
            if entries:  # transient refusals (OOM, LOADING, ...): back off and retry those
                attempt += 1
                self._abandon.wait(_backoff(attempt))
        self._on_success()
        return True

    def _xadd_batch(self, batch: list[dict]) -> list[Any]:
        return _redis.xadd_batch(
            self._client,
            self._config.stream_name,
            batch,
            maxlen=self._config.max_stream_length,
        )

    def _sort_results(
        self, entries: list[tuple[int, dict]], results: list[Any], failed: list[int]
    ) -> list[tuple[int, dict]]:
        """Count what was written; return the entries to retry; record the rejected ones."""
        retry: list[tuple[int, dict]] = []
        rejected = 0
        for entry, result in zip(entries, results, strict=True):
            if not isinstance(result, Exception):
                self._published += 1
            elif _redis.is_transient_reply(result):
                retry.append(entry)
                self._on_failure(result, 1)
            else:
                rejected += 1
                failed.append(entry[0])
                self._last_error = f"{type(result).__name__}: {result}"
        if rejected:
            self._count_drop("rejected", rejected)
            logger.error(
                "SwisperStudio: Redis refused %d span events for stream %r (%s); dropped",
                rejected,
                self._config.stream_name,
                self._last_error,
            )
        return retry

    def _on_failure(self, exc: BaseException, pending: int) -> None:
        self._publish_errors += 1
        self._last_error = f"{type(exc).__name__}: {exc}"
        now = time.monotonic()
        first = self._failing_since is None
        if first:
            self._failing_since = now
        if first or now - self._last_error_log >= _LOG_INTERVAL_S:
            self._last_error_log = now
            logger.warning(
                "SwisperStudio: cannot publish to Redis at %s (%s); keeping %d span events and "
                "retrying (%d more queued). The application is not affected.",
                self._config.redacted_url,
                self._last_error,
                pending,
                len(self._queue),
            )
        self._log_drops()

    def _on_success(self) -> None:
        if self._failing_since is None:
            return
        self._reconnects += 1
        logger.warning(
            "SwisperStudio: Redis at %s is reachable again after %.1f s; publishing resumed",
            self._config.redacted_url,
            time.monotonic() - self._failing_since,
        )
        self._failing_since = None

    def _abandon_queue(self) -> None:
        """After an abandoned shutdown: count what is left as dropped and release waiters."""
        left = 0
        while self._queue:
            item = self._queue.popleft()
            if type(item) is _FlushMarker:
                item.resolve(False)
            else:
                left += 1
        if left:
            self._count_drop("shutdown_timeout", left)

    def _log_drops(self, *, force: bool = False) -> None:
        total = self._dropped["queue_full"]
        new = total - self._dropped_logged
        now = time.monotonic()
        if new > 0 and (force or now - self._last_drop_log >= _LOG_INTERVAL_S):
            self._dropped_logged = total
            self._last_drop_log = now
            logger.warning(
                "SwisperStudio: dropped %d span events (queue full, max_queue_size=%d)",
                new,
                self._max_queue_size,
            )


def _yield_gil() -> None:
    """Release the GIL between chunks.

    Encoding and packing are pure Python: a 512-event batch in one go holds the GIL for 2-3 ms,
    and a CPU-bound application thread waiting for it only gets it back by asking for a
    switch, after ``sys.getswitchinterval()`` (5 ms by default). A chunk of 64 events takes
    about 0.3 ms; the chunk's round trip to Redis and this sleep hand the GIL over in between,
    so the application waits about one chunk (bench/bench_exporter.py, section 4). Skipped
    when the queue holds a backlog: then keeping up matters more.
    """
    time.sleep(0)


def _default_client(config: ExporterConfig) -> redis.Redis:
    return _redis.create_client(config.redis_url, timeout_s=config.timeout_s)


def _backoff(attempt: int) -> float:
    """Jittered exponential backoff: half fixed, half random, capped."""
    delay = min(_BACKOFF_CAP_S, _BACKOFF_BASE_S * (2 ** min(attempt, 16)))
    return delay / 2 + random.uniform(0, delay / 2)


def _register_at_fork(publisher: Publisher) -> None:
    """Re-initialise in forked children without keeping the publisher alive (WeakMethod)."""
    if not hasattr(os, "register_at_fork"):
        return
    weak_reinit = weakref.WeakMethod(publisher._at_fork_reinit)

    def _after_in_child() -> None:
        reinit = weak_reinit()
        if reinit is not None:
            reinit()

    os.register_at_fork(after_in_child=_after_in_child)


def _register_atexit(publisher: Publisher) -> Callable[[], None]:
    """Flush at interpreter exit, through a weak reference (the publisher may be collected)."""
    ref = weakref.ref(publisher)

    def _flush_at_exit() -> None:
        live = ref()
        if live is not None:
            live.shutdown()

    atexit.register(_flush_at_exit)
    return _flush_at_exit
