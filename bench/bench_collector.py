"""Collector benchmark: ingest throughput and end-to-end lag, against real Redis and PostgreSQL.

Starts its own redis-server and PostgreSQL cluster (tests/servers.py), then measures:

1. Ingest throughput: a stream pre-filled with N spans (a span_start and a span_end entry each,
   LangGraph-shaped traces with JSON payloads) drained by one in-process ``Consumer`` into
   PostgreSQL: spans per second, start and end folded into one row.
2. End-to-end lag at a steady rate (default 1,000 spans/s): a producer XADDs each span's start
   and end on schedule, a ``swisper-studio collector`` process consumes, a poller records when
   each span's row shows its end. Prints p50/p95/p99 lag and pending entries over time.

Usage: ``.venv/bin/python bench/bench_collector.py [--quick] [--spans N] [--rate R] [--seconds S]``.
Figures are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psycopg
import redis
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from servers import PostgresServer, RedisServer  # noqa: E402
from swisper_studio.collector.consumer import Consumer  # noqa: E402
from swisper_studio.collector.migrate import migrate  # noqa: E402
from swisper_studio.collector.settings import Settings  # noqa: E402
from swisper_studio.exporter import wire  # noqa: E402

GROUP = "swisper_studio_consumers"


class _Recorder(SpanProcessor):
    def __init__(self) -> None:
        self.events: list[dict[bytes, bytes]] = []

    def on_start(self, span, parent_context=None) -> None:
        ctx = span.get_span_context()
        self.events.append(
            wire.encode_span_start(
                project_id="bench",
                trace_id=ctx.trace_id,
                span_id=ctx.span_id,
                parent_span_id=span.parent.span_id if span.parent else None,
                name=span.name,
                kind=span.kind.name,
                start_time_unix_nano=span.start_time,
                attributes=span.attributes,
                resource=wire.encode_resource(span.resource),
            )
        )

    def on_end(self, span: ReadableSpan) -> None:
        self.events.append(wire.encode_span_end(span, project_id="bench"))


def template_trace() -> list[dict[bytes, bytes]]:
    """Events of one LangGraph-shaped run: root, 3 nodes, each with an LLM and a tool call."""
    recorder = _Recorder()
    provider = TracerProvider(resource=Resource.create({"service.name": "bench-agent"}))
    provider.add_span_processor(recorder)
    tracer = provider.get_tracer("bench")
    question = '{"messages": [{"role": "user", "content": "' + "lorem ipsum " * 20 + '"}]}'
    with tracer.start_as_current_span(
        "agent",
        attributes={
            "openinference.span.kind": "CHAIN",
            "session.id": "sess-1",
            "user.id": "user-1",
            "input.value": question,
            "input.mime_type": "application/json",
        },
    ) as root:
        for step in range(1, 4):
            with tracer.start_as_current_span(
                f"node{step}",
                attributes={
                    "openinference.span.kind": "CHAIN",
                    "langgraph.node": f"node{step}",
                    "langgraph.step": step,
                    "input.value": '{"state": "' + "x" * 100 + '"}',
                    "input.mime_type": "application/json",
                },
            ):
                with tracer.start_as_current_span(
                    "ChatModel",
                    attributes={
                        "openinference.span.kind": "LLM",
                        "gen_ai.request.model": "gpt-4o-mini",
                        "input.value": question,
                        "input.mime_type": "application/json",
                    },
                ) as llm:
                    llm.set_attribute("output.value", '{"content": "' + "answer " * 25 + '"}')
                    llm.set_attribute("output.mime_type", "application/json")
                    llm.set_attribute("gen_ai.usage.input_tokens", 120)
                    llm.set_attribute("gen_ai.usage.output_tokens", 40)
                with tracer.start_as_current_span(
                    "search",
                    attributes={"openinference.span.kind": "TOOL", "gen_ai.tool.name": "search"},
                ) as tool:
                    tool.set_attribute("output.value", "result " * 10)
        root.set_attribute("output.value", '{"answer": "done"}')
        root.set_attribute("output.mime_type", "application/json")
    provider.shutdown()
    return recorder.events


def stamped(template: list[dict[bytes, bytes]]) -> list[dict[bytes, bytes]]:
    """The template's events under a fresh trace id (span ids are unique per trace)."""
    trace_id = uuid.uuid4().hex.encode()
    return [{**fields, b"trace_id": trace_id} for fields in template]


def _settings(redis_url: str, database_url: str, stream: str, **kw) -> Settings:
    return Settings(redis_url=redis_url, database_url=database_url, stream_name=stream, **kw)


def bench_throughput(redis_url: str, database_url: str, spans: int, batch_size: int) -> float:
    client = redis.Redis.from_url(redis_url)
    stream = f"bench:{uuid.uuid4().hex[:8]}"
    template = template_trace()
    per_trace = len(template) // 2
    traces = max(1, spans // per_trace)
    pipe = client.pipeline(transaction=False)
    for i in range(traces):
        for fields in stamped(template):
            pipe.xadd(stream, fields)
        if i % 50 == 49:
            pipe.execute()
    pipe.execute()
    total_spans = traces * per_trace
    entries = client.xlen(stream)
    body = sum(len(f[b"body"]) for f in template) / len(template)
    print(f"  pre-filled {entries} entries ({total_spans} spans, ~{body:.0f} B body per entry)")

    consumer = Consumer(
        _settings(redis_url, database_url, stream, batch_size=batch_size, block_ms=0),
        run_migrations=False,
    )
    consumer.setup()
    backend_pid = consumer._store._connection().info.backend_pid
    backend_cpu = _cpu_seconds(backend_pid)
    cpu = time.process_time()
    started = time.perf_counter()
    while consumer.run_once(block_ms=0):
        pass
    elapsed = time.perf_counter() - started
    cpu = time.process_time() - cpu
    backend_cpu = _cpu_seconds(backend_pid) - backend_cpu
    stats = consumer.stats()
    consumer.close()
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT count(*) FROM observations WHERE has_end AND has_start AND project_id = 'bench'"
        ).fetchone()[0]
    rate = total_spans / elapsed
    print(
        f"  batch_size={batch_size}: {total_spans} spans in {elapsed:.2f}s = {rate:,.0f} spans/s "
        f"({entries / elapsed:,.0f} entries/s), {stats['batches']} batches, "
        f"avg batch {stats['avg_batch_latency_ms']:.1f} ms, rows complete={rows}"
    )
    print(
        f"    CPU per span: collector {cpu / total_spans * 1e6:.0f} us, PostgreSQL backend "
        f"{backend_cpu / total_spans * 1e6:.0f} us (on an idle 2-core machine the two overlap: "
        f"~{total_spans / max(cpu, backend_cpu):,.0f} spans/s)"
    )
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("TRUNCATE observations, traces")
    client.delete(stream)
    client.close()
    return rate


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a local process (Linux /proc), 0 when unavailable."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def bench_lag(redis_url: str, database_url: str, rate: int, seconds: float) -> None:
    client = redis.Redis.from_url(redis_url)
    stream = f"lag:{uuid.uuid4().hex[:8]}"
    template = template_trace()
    per_trace = len(template) // 2
    client.xgroup_create(stream, GROUP, id="0", mkstream=True)
    env = {
        **os.environ,
        "SWISPER_STUDIO_REDIS_URL": redis_url,
        "SWISPER_STUDIO_DATABASE_URL": database_url,
        "SWISPER_STUDIO_STREAM_NAME": stream,
    }
    cli = str(Path(sys.executable).parent / "swisper-studio")
    proc = subprocess.Popen(
        [cli, "collector"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    deadline = time.time() + 60
    while not list(client.scan_iter(match=wire.heartbeat_key(GROUP, "*"))):
        if time.time() > deadline or proc.poll() is not None:
            raise RuntimeError("the collector did not start")
        time.sleep(0.05)
    sent: dict[tuple[str, str], float] = {}
    seen: dict[tuple[str, str], float] = {}
    pending_samples: list[int] = []
    done = threading.Event()

    def poll() -> None:
        """Record when each sent span's row first shows its end (PK-index lookups by trace)."""
        with psycopg.connect(database_url, autocommit=True) as conn:
            while True:
                unseen_traces = sorted({k[0] for k in list(sent) if k not in seen})
                if not unseen_traces:
                    if done.is_set():
                        return
                    time.sleep(0.005)
                    continue
                if time.time() > give_up[0]:
                    return
                rows = conn.execute(
                    "SELECT trace_id, id FROM observations WHERE trace_id = ANY(%s) AND has_end",
                    (unseen_traces,),
                ).fetchall()
                now = time.time()
                for trace_id, span_id in rows:
                    seen.setdefault((trace_id, span_id), now)
                time.sleep(0.005)

    give_up = [float("inf")]
    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    interval = 0.01
    per_tick = rate * interval  # spans per 10 ms tick
    # one trace is `per_trace` spans: start events first, end events when the trace ends
    start = time.perf_counter()
    credit = 0.0
    next_tick = start
    last_sample = start
    while time.perf_counter() - start < seconds:
        credit += per_tick
        pipe = client.pipeline(transaction=False)
        batch_ends = []
        while credit >= per_trace:
            credit -= per_trace
            events = stamped(template)
            for fields in events:
                pipe.xadd(stream, fields)
                if fields[b"type"] == b"span_end":
                    batch_ends.append((fields[b"trace_id"].decode(), fields[b"span_id"].decode()))
        pipe.execute()
        now = time.time()
        for key in batch_ends:
            sent[key] = now
        if time.perf_counter() - last_sample >= 1.0:
            pending_samples.append(client.xpending(stream, GROUP)["pending"])
            last_sample = time.perf_counter()
        next_tick += interval
        time.sleep(max(0.0, next_tick - time.perf_counter()))
    done.set()
    give_up[0] = time.time() + 30
    poller.join(40)
    proc.terminate()
    proc.wait(30)
    lags = [(seen[k] - sent[k]) * 1000 for k in sent if k in seen]
    missing = len(sent) - len(lags)
    achieved = len(sent) / seconds
    print(
        f"  {len(sent)} spans at {achieved:,.0f} spans/s for {seconds:.0f}s: lag p50 "
        f"{statistics.median(lags):.0f} ms, p95 {_percentile(lags, 0.95):.0f} ms, p99 "
        f"{_percentile(lags, 0.99):.0f} ms, max {max(lags):.0f} ms; not seen: {missing}"
    )
    print(f"  pending entries sampled each second: {pending_samples}")
    client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="seconds, not minutes")
    parser.add_argument("--spans", type=int, default=None)
    parser.add_argument("--rate", type=int, default=1000, help="spans/s for the lag run")
    parser.add_argument("--seconds", type=float, default=None, help="length of the lag run")
    args = parser.parse_args()
    spans = args.spans or (5_000 if args.quick else 100_000)
    seconds = args.seconds or (3 if args.quick else 20)

    redis_server = RedisServer().start()
    postgres = PostgresServer().start()
    try:
        database_url = postgres.url()
        migrate(database_url)
        print(f"ingest throughput ({spans} spans, one consumer process):")
        for batch_size in (500,) if args.quick else (100, 500, 1000):
            bench_throughput(redis_server.url, database_url, spans, batch_size)
        print(f"end-to-end lag at {args.rate} spans/s (collector subprocess, default settings):")
        bench_lag(redis_server.url, database_url, args.rate, seconds)
    finally:
        postgres.close()
        redis_server.close()


if __name__ == "__main__":
    main()
