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


def per_run_ms(graph, runs: int) -> list[float]:
    return [run_one(graph, spec).duration_s * 1000 for spec in run_specs(runs, "bench")]


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
            per_run_ms(graph, 5)  # warm-up
            plain = per_run_ms(graph, runs)

            settings = Settings(redis_url=stack.redis_url, database_url=stack.database_url)
            provider = TracerProvider()
            processor = RedisStreamSpanProcessor(
                redis_url=stack.redis_url, stream_name=settings.stream_name, project_id="default"
            )
            provider.add_span_processor(processor)
            instrument_langgraph(tracer_provider=provider)
            try:
                before = count_traces(stack.database_url, "default")
                traced = per_run_ms(graph, runs)
                finished = time.perf_counter()
                provider.force_flush(30_000)
                stats = processor.stats()
                while count_traces(stack.database_url, "default") < before + runs:
                    time.sleep(0.01)
                end_to_end = time.perf_counter() - finished
            finally:
                uninstrument_langgraph()
                provider.shutdown()
            spans = stats["published"] / 2 / runs  # two events per span
            overhead = statistics.median(traced) - statistics.median(plain)
            print(f"demo agent run, uninstrumented:   {describe(plain)}   ({runs} runs)")
            print(f"demo agent run, instrumented:     {describe(traced)}")
            print(
                f"instrumentation + exporter cost:  {overhead:7.2f} ms per run (median), "
                f"{spans:.1f} spans per run, {overhead * 1000 / spans:6.1f} us per span"
            )
            print(
                f"last run returned -> all {runs} traces stored: {end_to_end * 1000:7.1f} ms "
                f"(events published {stats['published']}, dropped {stats['dropped_total']})"
            )
        finally:
            stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
