"""Per-invocation overhead of LangGraph tracing: ours vs no tracing vs the alternatives.

Variants, interleaved round by round (each round runs every variant in a shuffled order):

- ``untraced``: LangGraph alone.
- ``ours+redis``: ``instrument_langgraph()`` with ``RedisStreamSpanProcessor`` publishing to a
  local redis-server this script starts (falls back to BatchSpanProcessor + no-op exporter,
  and says so, when the processor cannot be imported).
- ``ours+noop``: ``instrument_langgraph()`` with BatchSpanProcessor + a no-op exporter
  (instrumentation cost alone).
- ``hand-spans``: plain OTel spans opened by hand around each node (the reference floor).
- ``openinference``: OpenInference's LangChainInstrumentor, BatchSpanProcessor + no-op exporter.
- ``sync-xadd``: the original design: one synchronous XADD of a JSON event at the start and
  end of the run and of every node, on the request path.

Then a depth / state-size check for ours+redis: per-node cost on a 10-node graph, and on the
5-node graph with a 1 MB state (the payload cap bounds the serialisation work).

Prints medians (µs per invoke), CPU per invoke (all threads, so background publishing counts),
ratios vs untraced and the per-node cost. Never asserts timings.

    python bench/bench_instrumentation.py            # full run (figures quoted in the docs)
    python bench/bench_instrumentation.py --quick    # a few seconds
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypedDict

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from langgraph.graph import END, START, StateGraph
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from swisper_studio.instrumentation import instrument_langgraph, uninstrument_langgraph


class State(TypedDict, total=False):
    x: int
    blob: str


class NoOpExporter(SpanExporter):
    def export(self, spans: Any) -> SpanExportResult:
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def build_graph(n_nodes: int, wrap: Callable[[str, Callable], Callable] | None = None) -> Any:
    g = StateGraph(State)
    prev = START
    for i in range(n_nodes):
        name = f"node_{i}"

        def node(state: State) -> dict[str, int]:
            return {"x": state.get("x", 0) + 1}

        g.add_node(name, wrap(name, node) if wrap else node)
        g.add_edge(prev, name)
        prev = name
    g.add_edge(prev, END)
    return g.compile(name=f"bench_{n_nodes}")


# -- variants: each is a context manager yielding a zero-argument "invoke once" -------------------


@contextmanager
def untraced(n_nodes: int, state: State, redis_url: str) -> Iterator[Callable[[], Any]]:
    graph = build_graph(n_nodes)
    yield lambda: graph.invoke(state)


def _redis_processor(redis_url: str) -> tuple[Any, str]:
    try:
        from swisper_studio.exporter import RedisStreamSpanProcessor
    except ImportError:
        return BatchSpanProcessor(NoOpExporter()), "BatchSpanProcessor+no-op (exporter missing)"
    stream = f"bench:{uuid.uuid4().hex[:8]}"
    processor = RedisStreamSpanProcessor(redis_url=redis_url, stream_name=stream, project_id="b")
    return processor, f"RedisStreamSpanProcessor -> {stream}"


LABELS: dict[str, str] = {}


@contextmanager
def ours_redis(n_nodes: int, state: State, redis_url: str) -> Iterator[Callable[[], Any]]:
    provider = TracerProvider()
    processor, label = _redis_processor(redis_url)
    LABELS["ours+redis"] = label
    provider.add_span_processor(processor)
    instrument_langgraph(provider)
    graph = build_graph(n_nodes)
    try:
        yield lambda: graph.invoke(state)
    finally:
        uninstrument_langgraph()
        stats = getattr(processor, "stats", None)
        provider.shutdown()
        if stats is not None:
            s = stats()
            LABELS["ours+redis stats"] = (
                f"published={s.get('published')} dropped={s.get('dropped_total')}"
            )


@contextmanager
def ours_noop(n_nodes: int, state: State, redis_url: str) -> Iterator[Callable[[], Any]]:
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(NoOpExporter()))
    instrument_langgraph(provider)
    graph = build_graph(n_nodes)
    try:
        yield lambda: graph.invoke(state)
    finally:
        uninstrument_langgraph()
        provider.shutdown()


@contextmanager
def hand_spans(n_nodes: int, state: State, redis_url: str) -> Iterator[Callable[[], Any]]:
    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(NoOpExporter()))
    tracer = provider.get_tracer("bench")

    def wrap(name: str, fn: Callable) -> Callable:
        def traced(s: State) -> Any:
            with tracer.start_as_current_span(name):
                return fn(s)

        return traced

    graph = build_graph(n_nodes, wrap)

    def once() -> Any:
        with tracer.start_as_current_span(graph.name):
            return graph.invoke(state)

    try:
        yield once
    finally:
        provider.shutdown()


@contextmanager
def openinference(n_nodes: int, state: State, redis_url: str) -> Iterator[Callable[[], Any]]:
    from openinference.instrumentation.langchain import LangChainInstrumentor

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(NoOpExporter()))
    instrumentor = LangChainInstrumentor()
    instrumentor.instrument(tracer_provider=provider)
    graph = build_graph(n_nodes)
    try:
        yield lambda: graph.invoke(state)
    finally:
        instrumentor.uninstrument()
        provider.shutdown()


@contextmanager
def sync_xadd(n_nodes: int, state: State, redis_url: str) -> Iterator[Callable[[], Any]]:
    import redis

    client = redis.Redis.from_url(redis_url)
    stream = f"bench:orig:{uuid.uuid4().hex[:8]}"

    def emit(kind: str, name: str, trace_id: str) -> None:
        event = {"type": kind, "name": name, "trace_id": trace_id, "ts": time.time()}
        client.xadd(stream, {"data": json.dumps(event)}, maxlen=100_000, approximate=True)

    current = {"trace": ""}

    def wrap(name: str, fn: Callable) -> Callable:
        def traced(s: State) -> Any:
            emit("observation_start", name, current["trace"])
            try:
                return fn(s)
            finally:
                emit("observation_end", name, current["trace"])

        return traced

    graph = build_graph(n_nodes, wrap)

    def once() -> Any:
        current["trace"] = uuid.uuid4().hex
        emit("trace_start", graph.name, current["trace"])
        try:
            return graph.invoke(state)
        finally:
            emit("trace_end", graph.name, current["trace"])

    try:
        yield once
    finally:
        client.close()


VARIANTS = {
    "untraced": untraced,
    "ours+redis": ours_redis,
    "ours+noop": ours_noop,
    "hand-spans": hand_spans,
    "openinference": openinference,
    "sync-xadd": sync_xadd,
}


# -- measurement ---------------------------------------------------------------------------------


def measure(
    factory: Callable, n_nodes: int, state: State, redis_url: str, n: int, warmup: int
) -> tuple[float, float, float]:
    """Median wall µs per invoke, app-thread CPU µs per invoke (median), and CPU µs per invoke
    over all threads (so a background publisher counts) for one round."""
    with factory(n_nodes, state, redis_url) as once:
        for _ in range(warmup):
            once()
        samples, thread_cpu = [], []
        cpu0 = time.process_time()
        for _ in range(n):
            c0 = time.thread_time()
            t0 = time.perf_counter()
            once()
            samples.append(time.perf_counter() - t0)
            thread_cpu.append(time.thread_time() - c0)
        time.sleep(0.25)  # let a background publisher catch up so its CPU is counted
        cpu = (time.process_time() - cpu0) / n
    return statistics.median(samples) * 1e6, statistics.median(thread_cpu) * 1e6, cpu * 1e6


Result = tuple[float, float, float]


def run_rounds(
    names: list[str], n_nodes: int, state: State, redis_url: str, rounds: int, n: int, warmup: int
) -> dict[str, Result]:
    samples: dict[str, list[Result]] = {k: [] for k in names}
    for _ in range(rounds):
        order = names[:]
        random.shuffle(order)
        for name in order:
            samples[name].append(measure(VARIANTS[name], n_nodes, state, redis_url, n, warmup))
    return {
        k: tuple(statistics.median(s[i] for s in v) for i in range(3))  # type: ignore[misc]
        for k, v in samples.items()
    }


def report(title: str, results: dict[str, Result], n_nodes: int) -> None:
    base_wall, base_thread, _ = results["untraced"]
    print(f"\n{title}")
    print(
        f"{'variant':<15}{'wall µs':>9}{'ratio':>7}{'+µs':>7}{'+µs/span':>9}"
        f"{'app-cpu µs':>11}{'ratio':>7}{'all-cpu µs':>11}"
    )
    for name, (wall, thread, cpu) in results.items():
        extra = wall - base_wall
        print(
            f"{name:<15}{wall:>9.0f}{wall / base_wall:>6.2f}x{extra:>7.0f}"
            f"{extra / (n_nodes + 1):>9.0f}{thread:>11.0f}{thread / base_thread:>6.2f}x{cpu:>11.0f}"
        )
    print(
        f"(+µs/span = extra wall / ({n_nodes} nodes + 1 root); app-cpu = CPU of the invoking "
        "thread; all-cpu = all threads incl. background publishing)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds, rough figures")
    parser.add_argument("--redis-url", help="use this Redis instead of starting one")
    args = parser.parse_args()
    rounds, n, warmup = (2, 60, 10) if args.quick else (7, 300, 30)

    server = None
    redis_url = args.redis_url
    if redis_url is None:
        from servers import RedisServer

        server = RedisServer().start()
        redis_url = server.url
    trace.set_tracer_provider(TracerProvider())  # a real global, as an app would have
    try:
        names = list(VARIANTS)
        five = run_rounds(names, 5, {"x": 0}, redis_url, rounds, n, warmup)
        report("5-node graph, trivial nodes, tiny state", five, 5)
        print("ours+redis:", LABELS.get("ours+redis"), LABELS.get("ours+redis stats", ""))

        depth = run_rounds(["untraced", "ours+redis"], 10, {"x": 0}, redis_url, rounds, n, warmup)
        report("10-node graph (depth check)", depth, 10)
        big_state: State = {"x": 0, "blob": "y" * 1_000_000}
        size = run_rounds(
            ["untraced", "ours+redis"], 5, big_state, redis_url, rounds, max(n // 3, 20), warmup
        )
        report("5-node graph with a 1 MB state (size check)", size, 5)
    finally:
        if server is not None:
            server.close()


if __name__ == "__main__":
    main()
