"""``swisper-studio collector`` as a real process: SIGKILL takeover and SIGTERM shutdown.

A test holds an ACCESS EXCLUSIVE lock on ``observations`` so the collector is provably in the
middle of a batch (entries read, not yet committed or acked) when the signal arrives.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
import redis
from collector_support import WireRecorder, agent_trace, count, make_tracer
from servers import wait_for
from swisper_studio.collector.consumer import Consumer
from swisper_studio.collector.migrate import migrate
from swisper_studio.collector.settings import Settings
from swisper_studio.exporter import wire

CLI = str(Path(sys.executable).parent / "swisper-studio")
SPANS_PER_TRACE = 7
GROUP = "swisper_studio_consumers"


@pytest.fixture
def client(redis_url):
    c = redis.Redis.from_url(redis_url)
    yield c
    c.close()


def _start_collector(redis_url, database_url, stream_name, name):
    env = {
        **os.environ,
        "SWISPER_STUDIO_REDIS_URL": redis_url,
        "SWISPER_STUDIO_DATABASE_URL": database_url,
        "SWISPER_STUDIO_STREAM_NAME": stream_name,
        "SWISPER_STUDIO_CONSUMER_NAME": name,
        "SWISPER_STUDIO_BATCH_SIZE": "20",
        "SWISPER_STUDIO_BLOCK_MS": "100",
        "SWISPER_STUDIO_HEARTBEAT_INTERVAL_S": "0.2",
    }
    return subprocess.Popen(
        [CLI, "collector"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def _publish(client, stream_name, traces):
    recorder = WireRecorder(sink=lambda fields: client.xadd(stream_name, fields))
    tracer = make_tracer(recorder)
    for _ in range(traces):
        agent_trace(tracer)


def _pending_of(client, stream_name, consumer):
    summary = client.xpending(stream_name, GROUP)
    return {c["name"].decode(): c["pending"] for c in summary["consumers"]}.get(consumer, 0)


def _locked(database_url):
    """A transaction holding an exclusive lock on observations: writers block."""
    conn = psycopg.connect(database_url)
    conn.execute("LOCK TABLE observations IN ACCESS EXCLUSIVE MODE")
    return conn


def _complete(database_url, spans):
    sql = "SELECT count(*) FROM observations WHERE has_start AND has_end"
    return count(database_url, sql) == spans


def test_sigkilled_collectors_pending_entries_are_taken_over(
    client, redis_url, database_url, stream_name
):
    migrate(database_url)
    _publish(client, stream_name, traces=6)
    lock = _locked(database_url)
    proc = _start_collector(redis_url, database_url, stream_name, "doomed")
    try:
        wait_for(lambda: _pending_of(client, stream_name, "doomed") > 0, what="a batch in flight")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        lock.rollback()
        lock.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stranded = _pending_of(client, stream_name, "doomed")
    assert stranded > 0

    settings = Settings(
        redis_url=redis_url,
        database_url=database_url,
        stream_name=stream_name,
        consumer_name="heir",
        claim_idle_ms=100,
        block_ms=50,
    )
    heir = Consumer(settings)
    try:
        wait_for(
            lambda: (
                heir.run_once(block_ms=0) is not None
                and _complete(database_url, 6 * SPANS_PER_TRACE)
            ),
            what="the heir to store everything",
        )
        wait_for(
            lambda: (
                heir.run_once(block_ms=0) == 0
                and not client.xpending(stream_name, GROUP)["pending"]
            )
        )
        assert heir.stats()["claimed"] >= stranded
    finally:
        heir.close()
    assert count(database_url, "SELECT count(*) FROM observations") == 6 * SPANS_PER_TRACE
    assert count(database_url, "SELECT count(*) FROM traces") == 6


def test_sigterm_finishes_the_batch_in_flight_and_exits_cleanly(
    client, redis_url, database_url, stream_name
):
    migrate(database_url)
    _publish(client, stream_name, traces=1)
    lock = _locked(database_url)
    proc = _start_collector(redis_url, database_url, stream_name, "graceful")
    key = wire.heartbeat_key(GROUP, "graceful")
    try:
        wait_for(lambda: _pending_of(client, stream_name, "graceful") > 0, what="a batch in flight")
        assert client.exists(key)
        proc.send_signal(signal.SIGTERM)
    finally:
        lock.rollback()
        lock.close()
    try:
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, output
    assert "stream=" in output and "consumer=graceful" in output
    assert _complete(database_url, SPANS_PER_TRACE)
    assert client.xpending(stream_name, GROUP)["pending"] == 0
    assert not client.exists(key)


def test_long_option_names_select_redis_database_stream_and_group(
    client, redis_url, database_url, stream_name
):
    env = {
        **os.environ,
        # Wrong on purpose: the options must win over the environment.
        "SWISPER_STUDIO_REDIS_URL": "redis://127.0.0.1:1/0",
        "SWISPER_STUDIO_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
        "SWISPER_STUDIO_STREAM_NAME": "not:this:stream",
        "SWISPER_STUDIO_HEARTBEAT_INTERVAL_S": "0.2",
    }
    command = [CLI, "collector", "--redis-url", redis_url, "--database-url", database_url]
    command += ["--stream-name", stream_name, "--group-name", "named_group"]
    command += ["--consumer-name", "long-names", "--block-ms", "100"]
    proc = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    key = wire.heartbeat_key("named_group", "long-names")
    try:
        wait_for(lambda: proc.poll() is not None or client.exists(key), what="heartbeat")
        assert proc.poll() is None, proc.communicate()[0]
        client.xadd(stream_name, wire.encode_init_request("long-opts", "p"))
        wait_for(lambda: client.exists(wire.init_ack_key("long-opts")), what="init_ack")
        groups = {g["name"].decode() for g in client.xinfo_groups(stream_name)}
        assert groups == {"named_group"}
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, output
    assert f"stream={stream_name} group=named_group consumer=long-names" in output


def test_short_and_long_option_names_are_both_listed():
    result = subprocess.run(
        [CLI, "collector", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"},
    )
    assert result.returncode == 0, result.stderr
    for option in ("--stream", "--stream-name", "--group", "--group-name", "--redis-url"):
        assert option in result.stdout, option
    assert "--database-url" in result.stdout
