"""RedisStreamSpanProcessor when things go wrong: Redis down or restarted, full queue, fork,
passwords, and instrumentation of the publisher's own Redis calls."""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading

import pytest
import redis
from exporter_support import read_events, stream_length
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from servers import wait_for
from swisper_studio.exporter import RedisStreamSpanProcessor, wire

pytestmark = pytest.mark.slow


def _spans(tracer, count: int, prefix: str = "s") -> None:
    for i in range(count):
        with tracer.start_as_current_span(f"{prefix}{i}"):
            pass


def test_span_created_while_redis_is_stopped_raises_nothing_and_arrives_after_restart(
    own_redis, stream_name, tracer_for, caplog, monkeypatch
):
    caplog.set_level(logging.WARNING, logger="swisper_studio")
    connecting_threads: set[str] = set()
    connect = redis.connection.AbstractConnection.connect

    def watched_connect(self, *args, **kwargs):
        connecting_threads.add(threading.current_thread().name)
        return connect(self, *args, **kwargs)

    monkeypatch.setattr(redis.connection.AbstractConnection, "connect", watched_connect)
    own_redis.stop()
    processor = RedisStreamSpanProcessor(
        redis_url=own_redis.url, stream_name=stream_name, export_timeout_millis=500
    )
    try:
        tracer = tracer_for(processor)
        _spans(tracer, 20)  # must not raise, must not block on the dead server
        wait_for(lambda: processor.stats()["publish_errors"] >= 1, timeout=10, what="a failure")
        stats = processor.stats()
        assert stats["published"] == 0
        assert stats["connected"] is False
        assert stats["last_error"]
        assert "unreachable" in caplog.text or "cannot publish" in caplog.text
        assert connecting_threads == {"SwisperStudioPublisher"}  # never the caller's thread

        own_redis.start()
        wait_for(lambda: stream_length(own_redis.url, stream_name) == 40, timeout=20)
        stats = processor.stats()
        assert stats["published"] == 40
        assert stats["reconnects"] >= 1
        assert stats["dropped_total"] == 0
        assert stats["connected"] is True
        assert "reachable again" in caplog.text
    finally:
        processor.shutdown(timeout_millis=2000)


def test_spans_after_a_redis_restart_are_delivered(own_redis, stream_name, tracer_for):
    processor = RedisStreamSpanProcessor(redis_url=own_redis.url, stream_name=stream_name)
    try:
        tracer = tracer_for(processor)
        _spans(tracer, 5, "before")
        assert processor.force_flush(5000)
        own_redis.restart()  # no persistence: the stream is gone, the pooled socket is dead
        _spans(tracer, 5, "after")
        assert processor.force_flush(10_000)
        names = {e.name for e in read_events(own_redis.url, stream_name)}
        assert names == {f"after{i}" for i in range(5)}
    finally:
        processor.shutdown(timeout_millis=2000)


def test_queue_full_drops_oldest_and_counts(own_redis, stream_name, tracer_for):
    own_redis.stop()
    processor = RedisStreamSpanProcessor(
        redis_url=own_redis.url,
        stream_name=stream_name,
        max_queue_size=10,
        max_batch_size=5,
        export_timeout_millis=300,
    )
    try:
        tracer = tracer_for(processor)
        _spans(tracer, 50)  # 100 events into a queue of 10 (+ one batch of 5 held for retry)
        stats = processor.stats()
        assert stats["queue_size"] <= 10
        assert stats["enqueued"] == 100
        assert stats["dropped"]["queue_full"] >= 100 - 10 - 5
        assert processor.force_flush(100) is False  # its own marker evicted an older event

        own_redis.start()
        wait_for(
            lambda: processor.stats()["published"] + processor.stats()["dropped_total"] == 100,
            timeout=20,
            what="every event published or dropped",
        )
        events = read_events(own_redis.url, stream_name)
        assert len(events) == processor.stats()["published"] <= 15
        # The newest events survived: the last span's end is the last entry.
        assert (events[-1].name, events[-1].type) == ("s49", wire.SPAN_END)
    finally:
        processor.shutdown(timeout_millis=2000)


def test_shutdown_with_redis_down_returns_within_its_deadline(own_redis, stream_name, tracer_for):
    own_redis.stop()
    processor = RedisStreamSpanProcessor(
        redis_url=own_redis.url, stream_name=stream_name, export_timeout_millis=300
    )
    tracer = tracer_for(processor)
    _spans(tracer, 3)
    processor.shutdown(timeout_millis=300)
    wait_for(
        lambda: processor.stats()["dropped"]["shutdown_timeout"] == 6,
        timeout=10,
        what="unpublished events counted at shutdown",
    )
    processor.shutdown()  # again: harmless


def _child_publishes(tracer, processor) -> None:
    with tracer.start_as_current_span("child", attributes={"pid": os.getpid()}):
        pass
    os._exit(0 if processor.force_flush(10_000) else 3)


def test_forked_child_publishes_its_own_spans(make_processor, tracer_for, redis_url, stream_name):
    processor = make_processor(schedule_delay_millis=60_000, max_batch_size=4096)
    tracer = tracer_for(processor)
    with tracer.start_as_current_span("parent"):  # still queued in the parent at fork time
        pass
    child = multiprocessing.get_context("fork").Process(
        target=_child_publishes, args=(tracer, processor)
    )
    child.start()
    child.join(30)
    assert child.exitcode == 0
    assert processor.force_flush(5000)
    events = read_events(redis_url, stream_name)
    assert sorted((e.name, e.type) for e in events) == [
        ("child", wire.SPAN_END),
        ("child", wire.SPAN_START),
        ("parent", wire.SPAN_END),
        ("parent", wire.SPAN_START),
    ]  # the parent's queued events were not copied into the child's queue
    child_end = next(e for e in events if e.name == "child" and e.type == wire.SPAN_END)
    assert child_end.attributes["pid"] == child.pid
    assert processor.stats()["published"] == 2


def test_password_protected_redis_works_and_the_password_is_never_logged(
    own_redis, stream_name, tracer_for, caplog
):
    caplog.set_level(logging.DEBUG, logger="swisper_studio")
    admin = redis.Redis.from_url(own_redis.url)
    admin.config_set("requirepass", "s3cret-pw")
    admin.close()
    host_port = own_redis.url.split("//")[1].split("/")[0]
    good = RedisStreamSpanProcessor(
        redis_url=f"redis://:s3cret-pw@{host_port}/0", stream_name=stream_name
    )
    bad = RedisStreamSpanProcessor(
        redis_url=f"redis://:wrong-pw@{host_port}/0", stream_name=stream_name + ":bad"
    )
    try:
        tracer = tracer_for(good, bad)
        _spans(tracer, 3)
        assert good.force_flush(5000)
        wait_for(lambda: bad.stats()["publish_errors"] >= 1, timeout=10, what="auth failure")
        assert bad.stats()["published"] == 0
        assert "***" in caplog.text
        assert "s3cret-pw" not in caplog.text and "wrong-pw" not in caplog.text
        assert "s3cret-pw" not in repr(good.config)
    finally:
        good.shutdown(timeout_millis=1000)
        bad.shutdown(timeout_millis=200)
    reader = redis.Redis.from_url(f"redis://:s3cret-pw@{host_port}/0")
    assert reader.xlen(stream_name) == 6
    reader.close()


def test_the_publishers_own_redis_calls_are_not_traced(make_processor, redis_url):
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({}), shutdown_on_exit=False)
    provider.add_span_processor(SimpleSpanProcessor(memory))
    processor = make_processor()
    provider.add_span_processor(processor)
    RedisInstrumentor().instrument(tracer_provider=provider)
    try:
        with provider.get_tracer("app").start_as_current_span("app-work"):
            pass
        assert processor.force_flush(5000)
        assert processor.stats()["published"] == 2
        control = redis.Redis.from_url(redis_url)
        control.ping()  # the same instrumentation does trace the application's calls
        control.close()
        names = [span.name for span in memory.get_finished_spans()]
        assert "app-work" in names
        assert "PING" in names
        assert not [name for name in names if "XADD" in name.upper()]
    finally:
        RedisInstrumentor().uninstrument()
        provider.shutdown()


def test_out_of_memory_is_transient_events_wait_and_arrive_when_memory_frees(
    own_redis, stream_name, tracer_for
):
    admin = redis.Redis.from_url(own_redis.url)
    admin.config_set("maxmemory-policy", "noeviction")
    admin.config_set("maxmemory", "1")  # every write is now refused with OOM
    processor = RedisStreamSpanProcessor(redis_url=own_redis.url, stream_name=stream_name)
    try:
        tracer = tracer_for(processor)
        _spans(tracer, 5)
        wait_for(lambda: processor.stats()["publish_errors"] >= 1, timeout=10, what="OOM")
        assert "OutOfMemory" in processor.stats()["last_error"] or "OOM" in str(
            processor.stats()["last_error"]
        )
        assert processor.stats()["dropped_total"] == 0  # held, not dropped
        admin.config_set("maxmemory", "0")
        assert processor.force_flush(10_000)
        assert admin.xlen(stream_name) == 10
    finally:
        processor.shutdown(timeout_millis=2000)
        admin.close()


def test_a_refused_write_drops_the_events_counts_them_and_flush_says_so(
    make_processor, tracer_for, redis_url, stream_name, caplog
):
    client = redis.Redis.from_url(redis_url)
    client.set(stream_name, b"not a stream")  # every XADD answers WRONGTYPE: retrying is futile
    processor = make_processor()
    tracer = tracer_for(processor)
    with caplog.at_level(logging.ERROR, logger="swisper_studio"):
        _spans(tracer, 3)
        assert processor.force_flush(5000) is False
    stats = processor.stats()
    assert stats["dropped"]["rejected"] == 6
    assert "WRONGTYPE" in stats["last_error"]
    assert "refused" in caplog.text
    client.delete(stream_name)  # fixed: later events flow again
    _spans(tracer, 1)
    assert processor.force_flush(5000) is True
    assert client.xlen(stream_name) == 2
    client.close()
