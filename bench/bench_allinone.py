"""Figures for the all-in-one stack: start-up, demo agent overhead, end-to-end latency.

    python bench/bench_allinone.py           # full: 200 demo runs per mode, cold + warm start
    python bench/bench_allinone.py --quick   # seconds: 20 runs

What it measures (printed, never asserted):
- ``up`` start-up to ``/ready`` with embedded servers, on a fresh data folder (initdb included)
  and again on the same folder (warm);
- the demo agent's wall time per run, uninstrumented vs instrumented with
  ``instrument_langgraph()`` + ``RedisStreamSpanProcessor`` (the cost the app pays), and spans
  per run;
- end-to-end: time from the last run's return until the collector has stored every trace.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from opentelemetry.sdk.trace import TracerProvider
from swisper_studio.collector.allinone import AllInOne, UpConfig, count_traces
from swisper_studio.collector.embedded import free_port
from swisper_studio.collector.settings import Settings
from swisper_studio.demo import build_demo_graph, run_specs
from swisper_studio.demo.runner import run_one


def timed_start(data_dir: Path) -> tuple[AllInOne, float]:
    for name in ("SWISPER_STUDIO_REDIS_URL", "SWISPER_STUDIO_DATABASE_URL"):
        os.environ.pop(name, None)
    stack = AllInOne(UpConfig(port=free_port(), data_dir=data_dir))
    started = time.perf_counter()
    stack.start()
    return stack, time.perf_counter() - started


def per_run(graph, specs) -> tuple[list[float], list[float]]:
    """Wall time and the calling thread's CPU time per run, in ms."""
    wall, cpu = [], []
    for spec in specs:
        cpu_start = time.thread_time()
        wall.append(run_one(graph, spec).duration_s * 1000)
        cpu.append((time.thread_time() - cpu_start) * 1000)
    return wall, cpu


def alternate(graph, runs: int, instrument, uninstrument, block: int = 10):
    """Plain and traced runs in alternating blocks, so machine load drifts hit both alike."""
    plain: tuple[list[float], list[float]] = ([], [])
    traced: tuple[list[float], list[float]] = ([], [])
    specs = run_specs(runs, "bench")
    for start in range(0, runs, block):
        chunk = specs[start : start + block]
        for target, traced_block in ((plain, False), (traced, True)):
            if traced_block:
                instrument()
            try:
                per_run(graph, chunk[:1])  # (re-)instrumenting warms caches: not measured
                wall, cpu = per_run(graph, chunk)
            finally:
                if traced_block:
                    uninstrument()
            target[0].extend(wall)
            target[1].extend(cpu)
    return plain, traced


def describe(values: list[float]) -> str:
    values = sorted(values)
    p95 = values[min(len(values) - 1, int(len(values) * 0.95))]
    return f"median {statistics.median(values):7.2f} ms   p95 {p95:7.2f} ms"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--runs", type=int, default=None)
    args = parser.parse_args()
    runs = args.runs or (20 if args.quick else 200)
    logging.basicConfig(level=logging.WARNING)

    from swisper_studio.exporter import RedisStreamSpanProcessor
    from swisper_studio.instrumentation import instrument_langgraph, uninstrument_langgraph

    with tempfile.TemporaryDirectory(prefix="swisper-bench-") as tmp:
        data_dir = Path(tmp) / "data"
        stack, cold = timed_start(data_dir)
        stack.stop()
        stack, warm = timed_start(data_dir)
        try:
            print(f"up, embedded servers, to /ready:  cold {cold:5.2f} s   warm {warm:5.2f} s")
            graph = build_demo_graph()
            per_run(graph, run_specs(5, "warmup"))

            settings = Settings(redis_url=stack.redis_url, database_url=stack.database_url)
            provider = TracerProvider()
            processor = RedisStreamSpanProcessor(
                redis_url=stack.redis_url, stream_name=settings.stream_name, project_id="default"
            )
            provider.add_span_processor(processor)
            before = count_traces(stack.database_url, "default")
            try:
                plain, traced = alternate(
                    graph,
                    runs,
                    lambda: instrument_langgraph(tracer_provider=provider),
                    uninstrument_langgraph,
                )
                finished = time.perf_counter()
                provider.force_flush(30_000)
                stats = processor.stats()
                traced_runs = runs + (runs + 9) // 10  # incl. one warm-up per traced block
                deadline = time.monotonic() + 120
                while count_traces(stack.database_url, "default") < before + traced_runs:
                    if time.monotonic() > deadline:
                        raise TimeoutError("the collector did not store every trace in 120 s")
                    time.sleep(0.01)
                end_to_end = time.perf_counter() - finished
            finally:
                provider.shutdown()
            spans = stats["published"] / 2 / traced_runs  # two events per span
            cpu_cost = statistics.median(traced[1]) - statistics.median(plain[1])
            wall_cost = statistics.median(traced[0]) - statistics.median(plain[0])
            print(f"demo run, uninstrumented, wall:   {describe(plain[0])}   ({runs} runs)")
            print(f"demo run, instrumented, wall:     {describe(traced[0])}")
            print(f"demo run, uninstrumented, CPU:    {describe(plain[1])}   (calling thread)")
            print(f"demo run, instrumented, CPU:      {describe(traced[1])}")
            print(
                f"app thread cost: {cpu_cost:5.2f} ms CPU / {wall_cost:5.2f} ms wall per run "
                f"(medians), {spans:.1f} spans per run = {cpu_cost * 1000 / spans:5.0f} us CPU "
                "per span"
            )
            print(
                f"last run -> all {traced_runs} traces stored: {end_to_end * 1000:7.1f} ms "
                f"(events published {stats['published']}, dropped {stats['dropped_total']})"
            )
        finally:
            stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
