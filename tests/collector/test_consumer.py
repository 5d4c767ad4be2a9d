"""The consumer against real Redis and PostgreSQL: delivery, redelivery, failures, health."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

import orjson
import psycopg
import pytest
import redis
from collector_support import WireRecorder, agent_trace, count, make_tracer, snapshot
from servers import wait_for
from swisper_studio.collector import health
from swisper_studio.collector.consumer import Consumer
from swisper_studio.collector.migrate import migrate
from swisper_studio.collector.settings import Settings
from swisper_studio.exporter import wire

SPANS_PER_TRACE = 1 + 2 * 3  # root + 2 nodes x (node, llm, tool)


def _settings(redis_url, database_url, stream_name, **overrides):
    values = {
        "redis_url": redis_url,
        "database_url": database_url,
        "stream_name": stream_name,
        "block_ms": 50,
        "claim_idle_ms": 200,
        "max_deliveries": 3,
        "heartbeat_interval_s": 0.2,
        "heartbeat_ttl_s": 5,
        "batch_size": 50,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def client(redis_url):
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


@pytest.fixture
def make_consumer(redis_url, database_url, stream_name):
    made: list[Consumer] = []

    def factory(**overrides) -> Consumer:
        consumer = Consumer(_settings(redis_url, database_url, stream_name, **overrides))
        made.append(consumer)
        return consumer

    yield factory
    for consumer in made:
        consumer.stop()
        consumer.close()


class Running:
    """A consumer's ``run()`` in a thread, as the CLI runs it."""

    def __init__(self, consumer: Consumer) -> None:
        self.consumer = consumer
        self.thread = threading.Thread(
            target=consumer.run, kwargs={"install_signal_handlers": False}, daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        self.consumer.stop()
        self.thread.join(15)
        assert not self.thread.is_alive()


def _publish(client, stream_name, traces=1, project="proj", **kw):
    recorder = WireRecorder(project, sink=lambda fields: client.xadd(stream_name, fields))
    tracer = make_tracer(recorder)
    return [agent_trace(tracer, **kw) for _ in range(traces)], recorder.events


def _complete(database_url, spans):
    sql = "SELECT count(*) FROM observations WHERE has_start AND has_end"
    return count(database_url, sql) == spans


def _drain(consumer, database_url, spans, timeout=30):
    wait_for(
        lambda: consumer.run_once(block_ms=0) is not None and _complete(database_url, spans),
        timeout=timeout,
        what=f"{spans} complete observations",
    )


def test_real_processor_spans_end_to_end(
    client, make_consumer, redis_url, database_url, stream_name
):
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from swisper_studio.exporter import RedisStreamSpanProcessor

    processor = RedisStreamSpanProcessor(
        redis_url=redis_url, stream_name=stream_name, project_id="shop"
    )
    provider = TracerProvider(resource=Resource.create({"service.name": "shop-agent"}))
    provider.add_span_processor(processor)
    tracer = provider.get_tracer("e2e")
    trace_ids = [agent_trace(tracer, fail_tool=True, session="sess-9") for _ in range(3)]
    assert provider.force_flush(10_000)
    consumer = make_consumer()
    _drain(consumer, database_url, 3 * SPANS_PER_TRACE)
    provider.shutdown()
    _, traces = snapshot(database_url)
    assert sorted(t[0] for t in traces) == sorted(trace_ids)
    for trace in traces:
        assert trace[1] == "shop" and trace[2] == "agent" and trace[4] == "sess-9"
        assert trace[11] == "ERROR" and trace[15] == "shop-agent"
    assert count(database_url, "SELECT count(*) FROM observations WHERE type = 'GENERATION'") == 6
    assert count(database_url, "SELECT count(*) FROM projects WHERE id = 'shop'") == 1
    assert client.xpending(stream_name, consumer.settings.group_name)["pending"] == 0


def test_out_of_order_and_redelivered_entries_change_nothing(
    client, make_consumer, database_url, stream_name
):
    _, events = _publish(client, stream_name, traces=2)
    consumer = make_consumer()
    _drain(consumer, database_url, 2 * SPANS_PER_TRACE)
    expected = snapshot(database_url)
    for fields in [*reversed(events), *events[:5]]:  # ends before starts, and duplicates
        client.xadd(stream_name, fields)
    wait_for(lambda: consumer.run_once(block_ms=0) == 0, what="stream drained")
    assert snapshot(database_url) == expected
    assert consumer.stats()["processed"] == 2 * len(events) + 5


def test_poison_is_dead_lettered_while_good_events_keep_flowing(
    client, make_consumer, database_url, stream_name
):
    consumer = make_consumer()
    consumer.setup()
    poison = dict(_publish(client, stream_name)[1][0])
    poison[b"project_id"] = b"p" * 300  # violates the projects id CHECK: refused every time
    poison_id = client.xadd(stream_name, poison)
    garbage_id = client.xadd(stream_name, {b"v": b"1", b"type": b"span_end", b"body": b"{"})
    _publish(client, stream_name, traces=2)
    _drain(consumer, database_url, 3 * SPANS_PER_TRACE)

    def dead_lettered():
        consumer.run_once(block_ms=0)
        return client.xlen(consumer.settings.dead_letter_stream_name) == 2

    wait_for(dead_lettered, what="both bad entries dead-lettered")
    letters = {
        f[b"original_id"]: f for _, f in client.xrange(consumer.settings.dead_letter_stream_name)
    }
    assert b"undecodable" in letters[garbage_id][b"reason"]
    assert b"failed 3 deliveries" in letters[poison_id][b"reason"]
    assert letters[poison_id][b"body"] == poison[b"body"]
    assert client.xpending(stream_name, consumer.settings.group_name)["pending"] == 0
    assert consumer.stats()["dead_lettered"] == 2
    report = health.pipeline_health(client, consumer.settings)
    assert report["dead_lettered"] == 2 and report["status"] == "degraded"


def test_two_consumers_in_one_group_give_the_same_rows_as_one(
    client, make_consumer, database_url, stream_name
):
    _publish(client, stream_name, traces=12)
    spans = 12 * SPANS_PER_TRACE
    runners = [Running(make_consumer(batch_size=7, consumer_name=f"c{i}")) for i in range(2)]
    wait_for(lambda: _complete(database_url, spans), what="all spans from two consumers")
    wait_for(lambda: client.xpending(stream_name, "swisper_studio_consumers")["pending"] == 0)
    for runner in runners:
        runner.stop()
    assert all(r.consumer.stats()["processed"] > 0 for r in runners)
    two = snapshot(database_url)

    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("TRUNCATE observations, traces")
    single = make_consumer(group_name="replay")
    _drain(single, database_url, spans)
    assert snapshot(database_url) == two


def test_heartbeat_ping_pong_and_health(client, make_consumer, stream_name):
    consumer = make_consumer()
    client.xadd(stream_name, wire.encode_init_request("req-1", "proj"))
    wait_for(
        lambda: (
            consumer.run_once(block_ms=0) is not None and client.exists(wire.init_ack_key("req-1"))
        )
    )
    ack = orjson.loads(client.get(wire.init_ack_key("req-1")))
    assert ack["status"] == "ok" and ack["consumer_name"] == consumer.name
    assert 0 < client.ttl(wire.init_ack_key("req-1")) <= 30

    beat = consumer.heartbeat()
    key = wire.heartbeat_key(consumer.settings.group_name, consumer.name)
    assert 0 < client.pttl(key) <= 5000
    assert beat["consumer"] == consumer.name and beat["processed"] == 1
    report = health.pipeline_health(client, consumer.settings)
    assert report["status"] == "healthy" and report["consumer_alive"]
    assert [c["consumer"] for c in report["consumers"]] == [consumer.name]
    assert health.check(consumer.settings) == 0

    consumer.close()
    assert not client.exists(key)
    report = health.pipeline_health(client, consumer.settings)
    assert report["status"] == "down" and not report["consumer_alive"]


def test_an_init_request_written_the_original_designs_way_is_answered(
    client, make_consumer, stream_name
):
    consumer = make_consumer()
    stamp = datetime.now(timezone.utc).replace(tzinfo=None).isoformat()  # utcnow().isoformat()
    legacy = {"event_type": "init_request", "request_id": "abc", "timestamp": stamp}
    client.xadd(stream_name, legacy)
    # A legacy span event (no v/type) is not supported: dead-lettered, and the loop goes on.
    client.xadd(stream_name, {"event_type": "span_end", "trace_id": "1" * 32})
    wait_for(
        lambda: (
            consumer.run_once(block_ms=0) is not None
            and client.exists(wire.init_ack_key("abc"))
            and client.xlen(consumer.settings.dead_letter_stream_name) == 1
        ),
        what="legacy init_request answered, legacy span event dead-lettered",
    )
    assert orjson.loads(client.get(wire.init_ack_key("abc")))["status"] == "ok"
    (_, letter), *_ = client.xrange(consumer.settings.dead_letter_stream_name)
    assert letter[b"event_type"] == b"span_end"
    assert client.xpending(stream_name, consumer.settings.group_name)["pending"] == 0


def test_heartbeat_value_follows_the_original_design(client, make_consumer, stream_name):
    consumer = make_consumer()
    consumer.setup()
    before = time.time()
    consumer.heartbeat()
    key = wire.heartbeat_key(consumer.settings.group_name, consumer.name)
    beat = orjson.loads(client.get(key))
    stamp = datetime.fromisoformat(beat["timestamp"])
    assert stamp.tzinfo is not None and stamp.utcoffset().total_seconds() == 0
    assert before <= beat["timestamp_unix"] <= time.time()
    assert abs(stamp.timestamp() - beat["timestamp_unix"]) < 1e-3
    assert beat["status"] == "healthy"
    assert beat["consumer"] == beat["consumer_name"] == consumer.name
    assert beat["group"] == beat["group_name"] == consumer.settings.group_name
    for counter in ("processed", "failed", "dead_lettered", "lag", "pending"):
        assert counter in beat, counter
    report = health.pipeline_health(client, consumer.settings)
    assert report["consumer_alive"] and report["heartbeat_age_seconds"] < 5


@pytest.mark.parametrize("naive", [False, True])
def test_health_reads_iso_heartbeats_and_the_legacy_key(
    client, make_consumer, stream_name, monkeypatch, naive
):
    consumer = make_consumer()
    consumer.setup()
    monkeypatch.setenv("TZ", "Asia/Tokyo")  # a naive UTC time read as local would be 9 h old
    time.tzset()
    try:
        now = datetime.now(timezone.utc)
        stamp = (now.replace(tzinfo=None) if naive else now).isoformat()
        value = {"status": "healthy", "timestamp": stamp}
        client.set(wire.LEGACY_HEARTBEAT_KEY, orjson.dumps(value), ex=60)
        report = health.pipeline_health(client, consumer.settings)
        assert report["consumer_alive"], report
        assert report["heartbeat_age_seconds"] < consumer.settings.heartbeat_ttl_s
        client.set(
            wire.heartbeat_key(consumer.settings.group_name, "iso-only"),
            orjson.dumps({"group": consumer.settings.group_name, "timestamp": stamp}),
            ex=60,
        )
        client.delete(wire.LEGACY_HEARTBEAT_KEY)
        assert health.pipeline_health(client, consumer.settings)["consumer_alive"]
    finally:
        monkeypatch.undo()
        time.tzset()


def test_health_reports_unreachable_redis_as_down_without_raising():
    settings = Settings(redis_url="redis://127.0.0.1:1/0")
    client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=1)
    report = health.pipeline_health(client, settings)
    assert report["status"] == "down" and report["error"]
    assert health.check(settings) == 2


def test_trimming_of_unread_entries_is_warned(client, make_consumer, stream_name, caplog):
    consumer = make_consumer()
    consumer.setup()
    for i in range(50):
        client.xadd(stream_name, {b"n": str(i).encode()}, maxlen=10, approximate=False)
    with caplog.at_level("WARNING"):
        consumer.heartbeat()
    assert consumer.stats()["trimming_risk"]
    assert any("trimming deleted 40 entries" in r.getMessage() for r in caplog.records)
    report = health.pipeline_health(client, consumer.settings)
    assert report["trimming_risk"] and report["status"] == "degraded"


def test_trimming_risk_before_any_loss():
    group = {"last-delivered-id": b"100-0", "entries-read": 10}
    stream = {"length": 5, "entries-added": 15, "first-entry": (b"101-0", {})}
    (warning,) = health.trimming_warnings(stream, group)
    assert "next MAXLEN trim deletes unread entries" in warning
    caught_up = {**stream, "first-entry": (b"90-0", {})}
    assert health.trimming_warnings(caught_up, group) == []


def test_postgres_outage_loses_nothing(client, redis_url, stream_name, own_postgres):
    database_url = own_postgres.url()
    migrate(database_url)
    consumer = Consumer(_settings(redis_url, database_url, stream_name))
    runner = Running(consumer)
    _publish(client, stream_name, traces=2)
    wait_for(lambda: _complete(database_url, 2 * SPANS_PER_TRACE), what="first traces")
    own_postgres.stop()
    _publish(client, stream_name, traces=3)
    wait_for(lambda: consumer.stats()["store_errors"] > 0, what="the consumer to notice")
    assert client.xpending(stream_name, consumer.settings.group_name)["pending"] > 0
    own_postgres.start()
    wait_for(lambda: _complete(database_url, 5 * SPANS_PER_TRACE), timeout=60, what="recovery")
    wait_for(lambda: client.xpending(stream_name, consumer.settings.group_name)["pending"] == 0)
    runner.stop()
    assert consumer.stats()["dead_lettered"] == 0
    assert count(database_url, "SELECT count(*) FROM traces") == 5


def test_redis_restart_reconnects_and_recreates_the_group(database_url, stream_name, own_redis):
    client = redis.Redis.from_url(own_redis.url)
    consumer = Consumer(_settings(own_redis.url, database_url, stream_name))
    runner = Running(consumer)
    _publish(client, stream_name, traces=1)
    wait_for(lambda: _complete(database_url, SPANS_PER_TRACE), what="first trace")
    own_redis.restart()  # no persistence: the stream and the group are gone
    wait_for(lambda: consumer.stats()["redis_errors"] > 0, what="the consumer to notice")
    wait_for(lambda: client.exists(stream_name), what="the group to be re-created")
    _publish(client, stream_name, traces=1)
    wait_for(lambda: _complete(database_url, 2 * SPANS_PER_TRACE), what="second trace")
    runner.stop()
    client.close()


def test_tune_interpreter_only_raises_the_gc_threshold_and_lowers_the_switch_interval():
    import gc
    import sys

    from swisper_studio.collector.consumer import (
        GC_GEN0_THRESHOLD,
        SWITCH_INTERVAL_S,
        tune_interpreter,
    )

    saved = gc.get_threshold(), sys.getswitchinterval()
    try:
        gc.set_threshold(700, 11, 12)
        sys.setswitchinterval(0.005)
        tune_interpreter()
        assert gc.get_threshold() == (GC_GEN0_THRESHOLD, 11, 12)
        assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL_S)
        gc.set_threshold(GC_GEN0_THRESHOLD * 2, 11, 12)
        sys.setswitchinterval(SWITCH_INTERVAL_S / 2)
        tune_interpreter()
        assert gc.get_threshold() == (GC_GEN0_THRESHOLD * 2, 11, 12)
        assert sys.getswitchinterval() == pytest.approx(SWITCH_INTERVAL_S / 2)
    finally:
        gc.set_threshold(*saved[0])
        sys.setswitchinterval(saved[1])
