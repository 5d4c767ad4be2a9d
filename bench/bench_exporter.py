"""Benchmark of the exporter: memory bound, caller cost, CPU, publisher throughput.

Run:  .venv/bin/python bench/bench_exporter.py [--quick]

It starts its own throwaway redis-server on a free loopback port and prints tables:

1. Memory with Redis down: RSS while pushing far more events than the queue holds.
2. Caller-thread cost per span (start + end), variants interleaved round by round:
   - ``no processor``      the SDK's own cost of a span, nothing exported (context only);
   - ``BSP + no-op``       OpenTelemetry's BatchSpanProcessor with a no-op exporter: the floor;
   - ``processor, up``     RedisStreamSpanProcessor, Redis reachable;
   - ``processor, down``   RedisStreamSpanProcessor, Redis unreachable (queue full, evicting);
   - ``sync XADD``         the original design: one blocking XADD per event on the caller.
   2a paced: one span per millisecond (an agent idles on I/O between spans), median and p99
   of each span's wall time on the caller's thread. 2b saturated: spans back to back; wall and
   thread CPU of the caller, plus the process's CPU per span including the background
   threads' work for those spans (measured through a final flush).
3. Publisher throughput: events queued up front, then timed until force_flush returns; CPU per
   event from the process CPU during the flush (the waiting caller burns none).
4. Stalls of a CPU-bound caller: units of work (a root span and 5 child spans around ~80 us of
   pure-Python work each, like a 5-node graph invoke) back to back; percentiles and maximum of
   each unit's wall time. The publisher competes for the GIL; it writes in chunks of
   ``_publisher._CHUNK`` events and yields between them. ``processor, unchunked`` sets the chunk
   to a whole batch (the behaviour before chunking) for comparison in the same run.

Figures are for this machine only; compare ratios, not absolute numbers.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import redis
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from servers import RedisServer, free_port
from swisper_studio.exporter import RedisStreamSpanProcessor, _publisher
from swisper_studio.exporter._encoder import SpanEventEncoder, snapshot_start

STREAM = "bench:events"
NO_PROCESSOR = "no processor"
FLOOR = "BSP + no-op (floor)"
UP = "processor, Redis up"
DOWN = "processor, Redis down"
SYNC = "sync XADD per event"
PACING_GAP_S = 0.001  # ~1,000 spans/s, the load the issue sizes the queue for
# Attributes like a LangGraph node span's: node, step, kind and two JSON payloads.
ATTRIBUTES = {
    "langgraph.node": "retrieve_documents",
    "langgraph.step": 3,
    "openinference.span.kind": "CHAIN",
    "input.value": '{"question": "What is the refund policy for annual plans?", "k": 4}',
    "input.mime_type": "application/json",
    "output.value": '{"documents": ["doc-17", "doc-42", "doc-99", "doc-101"], "score": 0.82}',
    "output.mime_type": "application/json",
}


class NoOpExporter(SpanExporter):
    def export(self, spans):
        return SpanExportResult.SUCCESS


class SyncXaddProcessor(SpanProcessor):
    """The original design: one blocking XADD per event on the application's thread."""

    def __init__(self, url: str) -> None:
        self.client = redis.Redis.from_url(url)
        self.encoder = SpanEventEncoder("bench")

    def on_start(self, span, parent_context=None) -> None:
        fields = self.encoder.encode_start(snapshot_start(span))
        self.client.xadd(STREAM + ":sync", fields, maxlen=100_000, approximate=True)

    def on_end(self, span: ReadableSpan) -> None:
        fields = self.encoder.encode_end(span)
        self.client.xadd(STREAM + ":sync", fields, maxlen=100_000, approximate=True)

    def shutdown(self) -> None:
        self.client.close()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def _provider(processor: SpanProcessor | None) -> TracerProvider:
    provider = TracerProvider(
        resource=Resource.create({"service.name": "bench"}), shutdown_on_exit=False
    )
    if processor is not None:
        provider.add_span_processor(processor)
    return provider


def _spans(tracer, count: int) -> None:
    for _ in range(count):
        with tracer.start_as_current_span("node", attributes=ATTRIBUTES):
            pass


def _round(tracer, flush: Callable[[], object], count: int) -> tuple[float, float, float]:
    """Saturated: spans back to back. (caller wall, caller CPU, process CPU) µs per span."""
    gc.collect()
    proc0, thread0, wall0 = time.process_time_ns(), time.thread_time_ns(), time.perf_counter_ns()
    _spans(tracer, count)
    wall1, thread1 = time.perf_counter_ns(), time.thread_time_ns()
    flush()
    proc1 = time.process_time_ns()
    return (
        (wall1 - wall0) / count / 1000,
        (thread1 - thread0) / count / 1000,
        (proc1 - proc0) / count / 1000,
    )


def _paced_round(tracer, count: int, gap_s: float) -> list[float]:
    """Paced: one span, then the thread idles ``gap_s`` (an agent waiting on I/O). µs per span."""
    gc.collect()
    samples = []
    clock = time.perf_counter_ns
    for _ in range(count):
        t0 = clock()
        with tracer.start_as_current_span("node", attributes=ATTRIBUTES):
            pass
        samples.append((clock() - t0) / 1000)
        time.sleep(gap_s)
    return samples


def _variants(url: str) -> tuple[dict[str, tuple], list[SpanProcessor]]:
    dead_url = f"redis://127.0.0.1:{free_port()}/0"
    up = RedisStreamSpanProcessor(redis_url=url, stream_name=STREAM)
    down = RedisStreamSpanProcessor(
        redis_url=dead_url, stream_name=STREAM, export_timeout_millis=200
    )
    bsp = BatchSpanProcessor(NoOpExporter())
    sync = SyncXaddProcessor(url)
    variants = {
        NO_PROCESSOR: (_provider(None), lambda: None),
        FLOOR: (_provider(bsp), lambda: bsp.force_flush(30_000)),
        UP: (_provider(up), lambda: up.force_flush(30_000)),
        DOWN: (_provider(down), lambda: None),
        SYNC: (_provider(sync), lambda: None),
    }
    tracers = {name: (p.get_tracer("bench"), flush) for name, (p, flush) in variants.items()}
    for name, (tracer, flush) in tracers.items():  # warm up; fill the 'down' queue to its bound
        _spans(tracer, 25_000 if name == DOWN else 2000)
        flush()
    return tracers, [up, down, bsp, sync]


def _rotations(names: list[str], repeats: int):
    """Each round visits every variant, starting one further along: no fixed position."""
    for r in range(repeats):
        yield names[r % len(names) :] + names[: r % len(names)]


def bench_caller(url: str, spans: int, paced_spans: int, repeats: int) -> None:
    tracers, processors = _variants(url)
    names = list(tracers)

    paced: dict[str, list[float]] = {name: [] for name in names}
    for order in _rotations(names, repeats):
        for name in order:
            paced[name].extend(_paced_round(tracers[name][0], paced_spans, PACING_GAP_S))
    floor = statistics.median(paced[FLOOR])
    print(
        f"\n2a. Caller's thread, paced: {paced_spans} spans x {repeats} rounds per variant, "
        f"{PACING_GAP_S * 1000:.0f} ms idle between spans"
    )
    print(f"{'variant':<24}{'median us':>10}{'x floor':>9}{'p99 us':>9}")
    for name in names:
        median = statistics.median(paced[name])
        p99 = statistics.quantiles(paced[name], n=100)[98]
        print(f"{name:<24}{median:>10.1f}{median / floor:>9.2f}{p99:>9.1f}")

    saturated: dict[str, list[tuple[float, float, float]]] = {name: [] for name in names}
    for order in _rotations(names, repeats):
        for name in order:
            tracer, flush = tracers[name]
            saturated[name].append(_round(tracer, flush, spans))
    floor = statistics.median(s[0] for s in saturated[FLOOR])
    print(
        f"\n2b. Saturated: {spans} spans back to back x {repeats} rounds, medians; process CPU "
        "includes the background thread's work for those spans (measured through a flush)"
    )
    print(f"{'variant':<24}{'wall us':>9}{'x floor':>9}{'caller CPU us':>15}{'process CPU us':>16}")
    for name in names:
        wall = statistics.median(s[0] for s in saturated[name])
        cpu = statistics.median(s[1] for s in saturated[name])
        proc = statistics.median(s[2] for s in saturated[name])
        print(f"{name:<24}{wall:>9.1f}{wall / floor:>9.2f}{cpu:>15.1f}{proc:>16.1f}")
    down_stats = processors[1].stats()
    print(
        f"   (Redis down: queue {down_stats['queue_size']}/{down_stats['max_queue_size']}, "
        f"{down_stats['dropped']['queue_full']} dropped and counted, nothing raised)"
    )
    for processor in processors:
        processor.shutdown()


def _ended_spans(count: int) -> list[ReadableSpan]:
    memory = InMemorySpanExporter()
    provider = _provider(SimpleSpanProcessor(memory))
    _spans(provider.get_tracer("bench"), count)
    return list(memory.get_finished_spans())


def bench_publisher(url: str, events: int, repeats: int, batch_sizes: list[int]) -> None:
    spans = _ended_spans(1000)
    client = redis.Redis.from_url(url)
    print(f"\n3. Publisher: {events} span events queued, then flushed; medians of {repeats}")
    print(f"{'batch size':<12}{'events/s':>12}{'CPU us/event':>14}")
    for batch in batch_sizes:
        rates, cpus = [], []
        for _ in range(repeats):
            client.delete(STREAM + ":pub")
            processor = RedisStreamSpanProcessor(
                redis_url=url,
                stream_name=STREAM + ":pub",
                max_queue_size=events + 1,  # + the flush marker
                max_batch_size=batch,
                schedule_delay_millis=600_000,
            )
            for i in range(events // 2):
                span = spans[i % len(spans)]
                processor.on_start(span)  # a ReadableSpan has what on_start snapshots
                processor.on_end(span)
            gc.collect()
            proc0, wall0 = time.process_time_ns(), time.perf_counter_ns()
            ok = processor.force_flush(120_000)
            wall1, proc1 = time.perf_counter_ns(), time.process_time_ns()
            assert ok and processor.stats()["published"] == events, processor.stats()
            rates.append(events / ((wall1 - wall0) / 1e9))
            cpus.append((proc1 - proc0) / events / 1000)
            processor.shutdown()
        print(f"{batch:<12}{statistics.median(rates):>12,.0f}{statistics.median(cpus):>14.1f}")
    client.delete(STREAM + ":pub")
    client.close()


def _spin(iterations: int = 2000) -> int:
    """About 80 us of pure-Python work: holds the GIL like a CPU-bound node."""
    total = 0
    for i in range(iterations):
        total += i
    return total


def _stall_round(tracer, units: int) -> list[float]:
    """Units of work back to back (root + 5 children around CPU work): µs per unit."""
    gc.collect()
    samples = []
    clock = time.perf_counter_ns
    for _ in range(units):
        t0 = clock()
        with tracer.start_as_current_span("graph", attributes=ATTRIBUTES):
            for _ in range(5):
                with tracer.start_as_current_span("node", attributes=ATTRIBUTES):
                    _spin()
        samples.append((clock() - t0) / 1000)
    return samples


def bench_stalls(url: str, units: int, repeats: int) -> None:
    chunked = RedisStreamSpanProcessor(redis_url=url, stream_name=STREAM + ":stall")
    whole = RedisStreamSpanProcessor(redis_url=url, stream_name=STREAM + ":stall")
    bsp = BatchSpanProcessor(NoOpExporter())
    variants = {
        FLOOR: (_provider(bsp).get_tracer("bench"), bsp, _publisher._CHUNK),
        "processor, chunked": (_provider(chunked).get_tracer("bench"), chunked, _publisher._CHUNK),
        "processor, unchunked": (_provider(whole).get_tracer("bench"), whole, 1 << 30),
    }
    default_chunk = _publisher._CHUNK
    samples: dict[str, list[float]] = {name: [] for name in variants}
    try:
        for tracer, processor, chunk in variants.values():  # warm-up
            _publisher._CHUNK = chunk
            _stall_round(tracer, units // 4)
            processor.force_flush(30_000)
        for order in _rotations(list(variants), repeats):
            for name in order:
                tracer, processor, chunk = variants[name]
                _publisher._CHUNK = chunk  # read once per batch by the publisher thread
                samples[name].extend(_stall_round(tracer, units))
                processor.force_flush(30_000)
    finally:
        _publisher._CHUNK = default_chunk
    print(
        f"\n4. CPU-bound caller: {units} units (1 + 5 spans, ~0.3 ms of work) x {repeats} rounds "
        f"per variant; wall per unit; publisher chunk {default_chunk} events"
    )
    print(f"{'variant':<24}{'p50 us':>8}{'p99 us':>8}{'p99.9 us':>10}{'max us':>8}{'> 2 ms':>8}")
    for name, values in samples.items():
        q = statistics.quantiles(values, n=1000)
        print(
            f"{name:<24}{statistics.median(values):>8.0f}{q[989]:>8.0f}{q[998]:>10.0f}"
            f"{max(values):>8.0f}{sum(v > 2000 for v in values):>8}"
        )
    for processor in (chunked, whole, bsp):
        processor.shutdown()


def _rss_mib() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def bench_memory(events: int) -> None:
    processor = RedisStreamSpanProcessor(
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
        stream_name=STREAM,
        export_timeout_millis=200,
    )
    tracer = _provider(processor).get_tracer("bench")
    print(f"\n1. Memory with Redis down (queue bound {processor.config.max_queue_size} events)")
    print(f"{'events pushed':>14}{'RSS MiB':>10}{'queued':>9}{'dropped':>10}")
    step = events // 4
    for pushed in range(0, events + 1, step):
        if pushed:
            _spans(tracer, step // 2)
        gc.collect()
        stats = processor.stats()
        print(
            f"{pushed:>14,}{_rss_mib():>10.1f}{stats['queue_size']:>9}"
            f"{stats['dropped']['queue_full']:>10}"
        )
    processor.shutdown(timeout_millis=100)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="seconds, not minutes")
    args = parser.parse_args()
    if args.quick:
        spans, paced, repeats, events, pub_repeats, mem_events = 500, 100, 3, 20_000, 1, 40_000
        stall_units = 400
    else:
        spans, paced, repeats, events, pub_repeats, mem_events = 3000, 600, 9, 200_000, 3, 240_000
        stall_units = 1500
    server = RedisServer().start()
    try:
        print(f"Python {sys.version.split()[0]}, redis-server on {server.url}")
        bench_memory(mem_events)  # first, so the RSS baseline is not the other sections' garbage
        bench_caller(server.url, spans, paced, repeats)
        bench_publisher(server.url, events, pub_repeats, [128, 512, 2048])
        bench_stalls(server.url, stall_units, repeats)
    finally:
        server.close()


if __name__ == "__main__":
    main()
