"""The stream consumer: Redis consumer group -> folded rows -> PostgreSQL, at-least-once.

Loop: ``XREADGROUP`` a batch, decode with the exporter's own decoder, fold start/end events per
span, write the batch in one transaction, ``XACK`` only after the commit. Duplicates are
harmless (the store's upserts are idempotent), so every failure path prefers redelivery:

* PostgreSQL unavailable: the batch is kept in memory and retried with capped exponential
  backoff; nothing is acked and nothing new is read until it commits.
* Redis unavailable: reconnect with backoff; the group is re-created if Redis lost it.
* A record the database refuses (after the per-record savepoint fallback): left pending and
  retried shortly (``XCLAIM`` to itself, which counts a delivery); once it has been delivered
  ``max_deliveries`` times it goes to the dead-letter stream and is acked.
* An entry that cannot be decoded or mapped can never succeed: dead-lettered at once.
* A dead consumer's entries: taken over with ``XAUTOCLAIM`` once idle for ``claim_idle_ms``.
* SIGTERM / SIGINT: stop reading, finish (commit and ack) the batch in flight, delete the
  heartbeat, return.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson
import psycopg
import redis
from swisper_studio.collector import health
from swisper_studio.collector.mapping import DEFAULT_PROJECT_ID, MappedBatch
from swisper_studio.collector.migrate import migrate
from swisper_studio.collector.settings import Settings
from swisper_studio.collector.store import RenderedBatch, Store, StoreUnavailable, render
from swisper_studio.exporter import wire

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

Entry = tuple[bytes, dict[bytes, bytes] | None]

INIT_ACK_TTL_S = 30
DEAD_LETTER_MAXLEN = 100_000
BACKOFF_INITIAL_S = 0.1
BACKOFF_MAX_S = 10.0
GC_GEN0_THRESHOLD = 20_000
SWITCH_INTERVAL_S = 0.0002


def tune_interpreter() -> None:
    """Settings of this process's interpreter for the consumer; each only ever moves one way.

    * The garbage collector's young-generation threshold goes up to 20,000: decoding a batch
      allocates ~100,000 short-lived containers (parsed JSON) that reference counting frees
      anyway; at the default 700 the cyclic collector scanned them ~150 times per batch, ~15%
      of the collector's CPU.
    * The GIL switch interval goes down to 0.2 ms: the writer thread, back from PostgreSQL or
      Redis, waits for the GIL until the decoding main thread is forced to drop it; at the
      default 5 ms PostgreSQL sat idle meanwhile (+10-25% spans/s, bench/bench_collector.py).
    """
    gen0, gen1, gen2 = gc.get_threshold()
    if 0 < gen0 < GC_GEN0_THRESHOLD:
        gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)
    if sys.getswitchinterval() > SWITCH_INTERVAL_S:
        sys.setswitchinterval(SWITCH_INTERVAL_S)


@dataclass
class ConsumerStats:
    """Counters of one consumer since it started (also published in its heartbeat)."""

    processed: int = 0
    """Entries stored (or answered) and acked."""
    failed: int = 0
    """Failed attempts of single entries (each may be retried)."""
    dead_lettered: int = 0
    batches: int = 0
    claimed: int = 0
    """Entries taken over from idle consumers (XAUTOCLAIM)."""
    trimmed_pending: int = 0
    """Pending entries that MAXLEN trimming deleted before they were acked."""
    init_requests: int = 0
    store_errors: int = 0
    redis_errors: int = 0
    unexpected_errors: int = 0
    last_batch_size: int = 0
    last_batch_latency_ms: float = 0.0
    avg_batch_latency_ms: float = 0.0
    lag: int | None = None
    pending: int | None = None
    trimming_risk: bool = False


@dataclass
class _Prepared:
    """A decoded and folded batch, ready to be written."""

    entries: list[Entry]
    started: float
    batch: MappedBatch = field(default_factory=MappedBatch)
    spans: list[tuple[bytes, wire.SpanEvent | None]] = field(default_factory=list)
    pings: list[wire.InitRequest] = field(default_factory=list)
    poison: dict[bytes, str] = field(default_factory=dict)
    fields_of: dict[bytes, dict[bytes, bytes]] = field(default_factory=dict)
    rows: RenderedBatch | None = None
    """The batch rendered for the store (None: rendered at write time)."""


class _Backoff:
    """Capped exponential backoff whose sleeps end early when the consumer stops."""

    def __init__(self, stop: threading.Event) -> None:
        self._stop = stop
        self._delay = BACKOFF_INITIAL_S

    def reset(self) -> None:
        self._delay = BACKOFF_INITIAL_S

    def wait(self) -> None:
        self._stop.wait(self._delay)
        self._delay = min(self._delay * 2, BACKOFF_MAX_S)


class Consumer:
    """One collector process's consumer in the group; see the module docstring for the rules."""

    def __init__(
        self,
        settings: Settings,
        *,
        run_migrations: bool = True,
        redis_client: redis.Redis | None = None,
        store: Store | None = None,
    ) -> None:
        self.settings = settings
        self.run_migrations = run_migrations
        self._redis = redis_client or redis.Redis.from_url(
            settings.redis_url,
            socket_timeout=settings.block_ms / 1000 + 10,
            socket_connect_timeout=5,
        )
        self._store = store or Store(settings.database_url)
        self._stop = threading.Event()
        self._stats = ConsumerStats()
        self._ready = False
        self._migrated = not run_migrations
        self._inflight: list[Entry] = []
        self._retry_at: dict[bytes, float] = {}
        self._next_claim = 0.0
        self._next_heartbeat = 0.0
        self._started_at = time.time()
        self._warned_trimming = False
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="swisper-collector-writer")
        self._writing: Future[None] | None = None

    # ------------------------------------------------------------------ public API

    @property
    def name(self) -> str:
        return self.settings.consumer_name

    def stats(self) -> dict[str, Any]:
        """Counters as a dict (processed, failed, dead_lettered, batch latency, lag, ...)."""
        return asdict(self._stats)

    def stop(self) -> None:
        """Ask the loop to stop after the batch in flight (safe from signal handlers/threads)."""
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return self._stop.is_set()

    def run(self, *, install_signal_handlers: bool = True) -> None:
        """Consume until :meth:`stop` (or SIGTERM/SIGINT when run in the main thread)."""
        restore = self._install_signal_handlers() if install_signal_handlers else {}
        backoff = _Backoff(self._stop)
        try:
            while not self._stop.is_set():
                try:
                    self.run_once()
                    backoff.reset()
                except StoreUnavailable as exc:
                    self._stats.store_errors += 1
                    logger.warning("PostgreSQL unavailable, retrying batch later: %s", exc)
                    backoff.wait()
                except redis.RedisError as exc:
                    self._stats.redis_errors += 1
                    self._ready = False
                    logger.warning("Redis unavailable, reconnecting: %s", exc)
                    backoff.wait()
                except Exception:  # a bug must not kill the collector: log, back off, retry
                    self._stats.unexpected_errors += 1
                    logger.exception("unexpected error in the consumer loop")
                    backoff.wait()
        finally:
            self.close()
            for signum, handler in restore.items():
                signal.signal(signum, handler)

    def run_once(self, block_ms: int | None = None) -> int:
        """One loop step: set-up if needed, heartbeat, retries, claims, one read. Returns the
        number of entries handled. Raises StoreUnavailable / redis errors for the caller's
        backoff (nothing is acked in that case)."""
        if not self._ready:
            self.setup()
        self._maybe_heartbeat()
        if self._inflight:
            return self._process(self._inflight)  # an outage interrupted it: retry first
        handled = self._retry_failed()
        if time.monotonic() >= self._next_claim:
            handled += self.claim_stale()
        block = self.settings.block_ms if block_ms is None else block_ms
        if self._writing is not None:
            block = 0  # a batch is being written: only take what is already there
        entries = self._read(">", block or None)  # redis-py: BLOCK 0 would wait forever
        if not entries:
            self._drain_pipeline()
            return handled
        self._submit(entries)
        return handled + len(entries)

    def process_batch(self, entries: Sequence[Entry]) -> int:
        """Store ``(entry_id, fields)`` pairs read from the stream by this consumer, then ack
        them (synchronously); returns how many were handled."""
        return self._process(entries)

    def setup(self) -> None:
        """Ensure the group, apply migrations, connect the store, recover own pending."""
        tune_interpreter()
        self.ensure_group()
        if not self._migrated:
            try:
                applied = migrate(self.settings.database_url)
            except psycopg.OperationalError as exc:
                raise StoreUnavailable(f"migrations: {exc}") from exc
            if applied:
                logger.info("applied migrations: %s", ", ".join(applied))
            self._migrated = True
        self._ready = True
        self._recover_own_pending()

    def ensure_group(self) -> None:
        """``XGROUP CREATE <stream> <group> 0 MKSTREAM``; an existing group is fine."""
        try:
            self._redis.xgroup_create(
                self.settings.stream_name, self.settings.group_name, id="0", mkstream=True
            )
            logger.info(
                "created consumer group %s on %s",
                self.settings.group_name,
                self.settings.stream_name,
            )
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def claim_stale(self) -> int:
        """Take over entries idle longer than ``claim_idle_ms`` (dead consumers); process them."""
        s = self.settings
        self._next_claim = time.monotonic() + min(s.claim_idle_ms / 2000, 5.0)
        handled, start = 0, "0-0"
        while not self._stop.is_set():
            reply = self._redis.xautoclaim(
                s.stream_name, s.group_name, s.consumer_name, s.claim_idle_ms, start, s.batch_size
            )
            start, entries = reply[0], reply[1]
            deleted = reply[2] if len(reply) > 2 else []
            if deleted:
                self._stats.trimmed_pending += len(deleted)
                logger.warning(
                    "%d pending entries were trimmed from %s before being acked (data lost)",
                    len(deleted),
                    s.stream_name,
                )
            if entries:
                self._stats.claimed += len(entries)
                logger.info("claimed %d idle pending entries", len(entries))
                handled += self._process(entries)
            if health.parse_id(start) == (0, 0) or not entries:
                break
        return handled

    def heartbeat(self) -> dict[str, Any]:
        """Write this consumer's heartbeat key now (value returned for tests)."""
        s = self.settings
        self._refresh_group_metrics()
        now = time.time()
        value = {
            "consumer": s.consumer_name,
            "group": s.group_name,
            "consumer_name": s.consumer_name,
            "group_name": s.group_name,
            "stream": s.stream_name,
            "status": "healthy",
            **self.stats(),
            # The original design's ISO 8601 UTC ``timestamp``; readers prefer ``timestamp_unix``.
            "timestamp": health.iso(now),
            "timestamp_unix": now,
            "time": health.iso(now),
            "started_at": health.iso(self._started_at),
            "host": socket.gethostname(),
            "pid": os.getpid(),
        }
        self._redis.set(
            wire.heartbeat_key(s.group_name, s.consumer_name),
            orjson.dumps(value),
            px=int(s.heartbeat_ttl_s * 1000),
        )
        self._next_heartbeat = time.monotonic() + s.heartbeat_interval_s
        return value

    def close(self) -> None:
        """Finish the batch being written, delete the heartbeat (best effort), disconnect."""
        try:
            self._drain_pipeline()
        except Exception as exc:
            logger.warning("last batch not written: %s", exc)
        self._writer.shutdown(wait=True)
        if self._inflight:
            logger.warning(
                "stopping with %d entries not stored: they stay pending for another consumer",
                len(self._inflight),
            )
        try:
            self._redis.delete(wire.heartbeat_key(self.settings.group_name, self.name))
        except redis.RedisError:
            pass
        self._store.close()
        try:
            self._redis.close()
        except redis.RedisError:
            pass

    # ------------------------------------------------------------------ reading

    def _read(self, start: str, block_ms: int | None) -> list[Entry]:
        s = self.settings
        try:
            reply = self._redis.xreadgroup(
                s.group_name,
                s.consumer_name,
                {s.stream_name: start},
                count=s.batch_size,
                block=block_ms,
            )
        except redis.ResponseError as exc:
            if "NOGROUP" in str(exc):  # Redis restarted without persistence, or stream deleted
                logger.warning("consumer group vanished, re-creating it: %s", exc)
                self._ready = False
                return []
            raise
        if not reply:
            return []
        # RESP2: [[stream, entries]]; RESP3: {stream: [entries]}
        if isinstance(reply, dict):
            return next(iter(reply.values()))[0] if reply else []
        return reply[0][1]

    def _recover_own_pending(self) -> None:
        """Entries this consumer name read but never acked (a restart with a fixed name)."""
        start = "0"
        while not self._stop.is_set():
            entries = self._read(start, None)
            if not entries:
                return
            self._process(entries)
            start = entries[-1][0].decode() if isinstance(entries[-1][0], bytes) else entries[-1][0]

    def _retry_failed(self) -> int:
        now = time.monotonic()
        due = [entry_id for entry_id, at in list(self._retry_at.items()) if at <= now]
        if not due:
            return 0
        for entry_id in due:
            del self._retry_at[entry_id]
        s = self.settings
        entries = self._redis.xclaim(s.stream_name, s.group_name, s.consumer_name, 0, due)
        return self._process([e for e in entries if e and e[1] is not None])

    # ------------------------------------------------------------------ processing

    def _process(self, entries: Sequence[Entry]) -> int:
        """Decode, fold, store, answer pings, dead-letter, ack, synchronously."""
        self._drain_pipeline()
        if not entries:
            return 0
        self._commit(self._prepare(entries))
        return len(entries)

    def _prepare(self, entries: Sequence[Entry]) -> _Prepared:
        """Decode and fold (CPU only; runs while the previous batch is being written)."""
        prepared = _Prepared(list(entries), time.perf_counter())
        batch = prepared.batch
        # span_end entries first: a span_start covered by its end then skips the mapping
        ordered = sorted(entries, key=lambda e: e[1] is None or e[1].get(b"type") != b"span_end")
        for entry_id, fields in ordered:
            if fields is None:  # deleted by trimming while pending
                continue
            prepared.fields_of[entry_id] = fields
            if self._covered_start(batch, fields):
                prepared.spans.append((entry_id, None))
                continue
            try:
                event = wire.decode_entry(fields)
            except wire.WireFormatError as exc:
                prepared.poison[entry_id] = f"undecodable: {exc}"
                continue
            if isinstance(event, wire.InitRequest):
                prepared.pings.append(event)
                continue
            try:
                batch.add(event)
            except Exception as exc:  # a mapping bug or a hostile attribute: never retryable
                prepared.poison[entry_id] = f"mapping failed: {type(exc).__name__}: {exc}"
                continue
            prepared.spans.append((entry_id, event))
        if batch.observations:
            try:
                prepared.rows = render(batch)
            except Exception:  # the writer renders it again and reports the error there
                logger.exception("rendering a batch failed")
        return prepared

    @staticmethod
    def _covered_start(batch: MappedBatch, fields: dict[bytes, bytes]) -> bool:
        """A span_start whose span_end is in the batch needs only a peek at its attributes,
        not a full decode (the end carries everything; ``MappedBatch.mark_covered_start``)."""
        if fields.get(b"type") != b"span_start":
            return False
        try:
            key = (
                fields.get(b"project_id", b"").decode() or DEFAULT_PROJECT_ID,
                fields[b"trace_id"].decode(),
                fields[b"span_id"].decode(),
            )
            body = orjson.loads(fields[b"body"])
        except (KeyError, UnicodeDecodeError, orjson.JSONDecodeError):
            return False
        if not isinstance(body, dict):
            return False
        return batch.mark_covered_start(key, body.get("attributes") or {}, body.get("resource"))

    def _commit(self, prepared: _Prepared) -> None:
        """Store, answer pings, dead-letter, ack. On an outage nothing is acked and the
        entries stay in ``_inflight`` for a retry."""
        try:
            failed = self._store_batch(prepared)
            self._answer_pings(prepared.pings)
            exhausted, gone = self._exhausted(failed)
            for entry_id in gone:  # acked meanwhile by a consumer that took it over
                failed.pop(entry_id)
            dead = {**prepared.poison, **exhausted}
            for entry_id in failed:
                if entry_id not in dead:
                    self._retry_at[entry_id] = time.monotonic() + self._retry_delay()
            ack_ids = [e for e, _ in prepared.entries if e not in failed or e in dead]
            self._finish(ack_ids, dead, prepared.fields_of)
        except BaseException:
            self._inflight = prepared.entries
            raise
        self._stats.failed += len(failed) + len(prepared.poison)
        self._stats.processed += len(ack_ids) - len(dead)
        self._record_latency(len(prepared.entries), time.perf_counter() - prepared.started)
        self._inflight = []

    def _submit(self, entries: Sequence[Entry]) -> None:
        """Prepare ``entries`` now and write them on the writer thread once the previous batch
        has committed: decoding batch N+1 overlaps PostgreSQL's work on batch N."""
        prepared = self._prepare(entries)
        try:
            self._drain_pipeline()
        except BaseException:
            self._inflight = self._inflight + prepared.entries
            raise
        self._writing = self._writer.submit(self._commit, prepared)

    def _drain_pipeline(self) -> None:
        """Wait for the batch on the writer thread; re-raise its outage, if any."""
        future, self._writing = self._writing, None
        if future is not None:
            future.result()

    def _store_batch(self, prepared: _Prepared) -> dict[bytes, str]:
        """Write the batch; on a data error retry record by record. Returns refused ids."""
        if not prepared.spans:
            return {}
        try:
            self._store.write(prepared.rows or prepared.batch)
            return {}
        except StoreUnavailable:
            raise
        except psycopg.Error as exc:
            logger.warning(
                "batch of %d events refused (%s), retrying record by record",
                len(prepared.spans),
                exc,
            )
        records = []
        for entry_id, event in prepared.spans:
            single = MappedBatch()
            try:
                if event is None:  # a covered span_start that was only peeked at
                    event = wire.decode_entry(prepared.fields_of[entry_id])
                single.add(event)  # type: ignore[arg-type]
            except Exception:  # its span_end carries everything: nothing of its own to write
                continue
            records.append((entry_id, single))
        return self._store.write_each(records)

    def _retry_delay(self) -> float:
        return min(self.settings.claim_idle_ms / 1000, 1.0)

    def _exhausted(self, failed: dict[bytes, str]) -> tuple[dict[bytes, str], set[bytes]]:
        """Refused entries delivered ``max_deliveries`` times already (to dead-letter), and
        refused entries no longer pending at all (nothing to do)."""
        if not failed:
            return {}, set()
        s = self.settings
        pipe = self._redis.pipeline(transaction=False)
        for entry_id in failed:
            pipe.xpending_range(s.stream_name, s.group_name, entry_id, entry_id, 1)
        exhausted, gone = {}, set()
        for entry_id, rows in zip(failed, pipe.execute(), strict=True):
            if not rows:
                gone.add(entry_id)
                continue
            deliveries = rows[0]["times_delivered"]
            if deliveries >= s.max_deliveries:
                exhausted[entry_id] = f"failed {deliveries} deliveries: {failed[entry_id]}"
            else:
                logger.warning(
                    "entry %s failed (delivery %d of %d): %s",
                    entry_id.decode(),
                    deliveries,
                    s.max_deliveries,
                    failed[entry_id],
                )
        return exhausted, gone

    def _answer_pings(self, pings: list[wire.InitRequest]) -> None:
        if not pings:
            return
        s = self.settings
        pipe = self._redis.pipeline(transaction=False)
        for ping in pings:
            answer = {
                "status": "ok",
                "request_id": ping.request_id,
                "project_id": ping.project_id,
                "consumer_name": s.consumer_name,
                "group_name": s.group_name,
                "timestamp": time.time(),
            }
            pipe.set(wire.init_ack_key(ping.request_id), orjson.dumps(answer), ex=INIT_ACK_TTL_S)
        pipe.execute()
        self._stats.init_requests += len(pings)

    def _finish(
        self, ack_ids: list[bytes], dead: dict[bytes, str], fields_of: dict[bytes, dict]
    ) -> None:
        """Dead-letter and ack in one MULTI, so an entry is never acked without its copy."""
        if not ack_ids:
            return
        s = self.settings
        pipe = self._redis.pipeline(transaction=bool(dead))
        for entry_id, reason in dead.items():
            original = fields_of.get(entry_id, {})
            record: dict[Any, Any] = {
                b"original_id": entry_id,
                b"original_stream": s.stream_name,
                b"reason": reason[:2000],
                b"consumer": s.consumer_name,
                b"dead_lettered_at": health.iso(time.time()),
            }
            for key, value in original.items():
                record.setdefault(key, value)
            pipe.xadd(
                s.dead_letter_stream_name, record, maxlen=DEAD_LETTER_MAXLEN, approximate=True
            )
            logger.error("dead-lettered entry %s: %s", entry_id.decode(), reason)
        pipe.xack(s.stream_name, s.group_name, *ack_ids)
        pipe.execute()
        self._stats.dead_lettered += len(dead)

    def _record_latency(self, size: int, seconds: float) -> None:
        st = self._stats
        st.batches += 1
        st.last_batch_size = size
        st.last_batch_latency_ms = round(seconds * 1000, 3)
        weight = max(1 / st.batches, 0.05)  # running mean, then an exponential average
        avg = (
            st.avg_batch_latency_ms + (st.last_batch_latency_ms - st.avg_batch_latency_ms) * weight
        )
        st.avg_batch_latency_ms = round(avg, 3)

    # ------------------------------------------------------------------ health

    def _maybe_heartbeat(self) -> None:
        if time.monotonic() >= self._next_heartbeat:
            self.heartbeat()

    def _refresh_group_metrics(self) -> None:
        s = self.settings
        try:
            stream_info = self._redis.xinfo_stream(s.stream_name)
            group = health.find_group(self._redis.xinfo_groups(s.stream_name), s.group_name)
        except redis.ResponseError:  # stream deleted under us: the next read re-creates it
            self._ready = False
            return
        if group is None:
            return
        self._stats.lag = group.get("lag")
        self._stats.pending = group.get("pending")
        warnings = health.trimming_warnings(stream_info, group)
        self._stats.trimming_risk = bool(warnings)
        if warnings and not self._warned_trimming:
            for warning in warnings:
                logger.warning("%s (stream %s)", warning, s.stream_name)
        self._warned_trimming = bool(warnings)

    def _install_signal_handlers(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}
        previous = {}
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.getsignal(signum)
            signal.signal(signum, self._on_signal)
        return previous

    def _on_signal(self, signum: int, frame: Any) -> None:
        logger.info("received %s: finishing the batch in flight", signal.Signals(signum).name)
        self.stop()
