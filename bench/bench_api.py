"""Studio API latency over a large data set (prints figures; never asserts).

    .venv/bin/python bench/bench_api.py           # 100,000 traces, 1,000,000 observations
    .venv/bin/python bench/bench_api.py --quick   # 10,000 traces, 100,000 observations

Starts a throwaway PostgreSQL (tests/servers.py) unless ``--database-url`` is given, applies
the migrations, fills ``traces`` and ``observations`` with set-based SQL (``generate_series``)
in the shape the collector writes (LangGraph-like trees: CHAIN nodes, GENERATION calls with
model and tokens, TOOL calls, JSON payloads; sessions of five traces, a thousand users, 1 %
errors, a second project holding a tenth of the rows), plus one trace with 200 observations.
Then serves the API with ``swisper-studio api`` in a subprocess and measures p50/p95 of real
HTTP requests with a key: the trace list (first page, by session, by time window, by user,
the second page through the cursor) and trace detail (200 and 10 observations).
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from servers import PostgresServer, free_port, wait_for  # noqa: E402
from swisper_studio.collector.migrate import migrate  # noqa: E402
from swisper_studio.collector.projects import create_project  # noqa: E402

PROJECT = "bench"
OTHER = "bench-other"
OBS_PER_TRACE = 10
BIG_TRACE_OBS = 200
BASE = datetime(2026, 1, 1, tzinfo=timezone.utc)
SPACING_S = 6  # one trace every 6 s: 100,000 traces span about a week

FILL_TRACES = """
INSERT INTO traces (id, project_id, name, user_id, session_id, start_time, end_time, input,
                    output, metadata, tags, level, status, root_observation_id, service_name)
SELECT md5('t' || i),
       CASE WHEN i %% 10 = 9 THEN %(other)s ELSE %(project)s END,
       (ARRAY['agent_graph', 'search_graph', 'support_agent', 'router_graph'])[1 + i %% 4],
       'user-' || (i %% 1000),
       'session-' || (i / 5),
       %(base)s + make_interval(secs => i * %(spacing)s),
       %(base)s + make_interval(secs => i * %(spacing)s + 0.1 + (i %% 20) * 0.1),
       jsonb_build_object('question', 'what is ' || i || '?'),
       jsonb_build_object('answer', 'it is ' || (i * 7 %% 1000)),
       jsonb_build_object('graph_version', 3, 'langgraph_thread_id', 'session-' || (i / 5)),
       CASE WHEN i %% 2 = 0 THEN ARRAY['prod'] ELSE ARRAY['prod', 'beta'] END,
       CASE WHEN i %% 100 = 42 THEN 'ERROR' ELSE 'DEFAULT' END,
       CASE WHEN i %% 100 = 42 THEN 'ERROR' ELSE 'OK' END,
       substr(md5('o' || i || '-0'), 1, 16),
       'bench-agent'
FROM generate_series(0, %(n)s - 1) AS i
"""

# Observation j of trace i: j = 0 is the root; node j > 0 hangs under (j - 1) / 3 (a ternary
# tree: nodes, LLM calls and tools nested two or three levels deep).
FILL_OBSERVATIONS = """
INSERT INTO observations (id, trace_id, project_id, parent_observation_id, type, name, kind,
                          start_time, end_time, level, status_code, input, output, metadata,
                          model, usage, input_tokens, output_tokens, total_tokens,
                          langgraph_node, langgraph_step, has_start, has_end)
SELECT substr(md5('o' || i || '-' || j), 1, 16),
       md5('t' || i),
       CASE WHEN i %% 10 = 9 THEN %(other)s ELSE %(project)s END,
       CASE WHEN j = 0 THEN NULL ELSE substr(md5('o' || i || '-' || ((j - 1) / 3)), 1, 16) END,
       CASE WHEN j = 0 THEN 'CHAIN' WHEN j %% 5 = 3 THEN 'GENERATION'
            WHEN j %% 5 = 4 THEN 'TOOL' ELSE 'CHAIN' END,
       CASE WHEN j = 0 THEN 'agent_graph' WHEN j %% 5 = 3 THEN 'ChatOpenAI'
            WHEN j %% 5 = 4 THEN 'search' ELSE 'node_' || j END,
       'INTERNAL',
       %(base)s + make_interval(secs => i * %(spacing)s + j * 0.005),
       %(base)s + make_interval(secs => i * %(spacing)s + j * 0.005 + 0.004),
       CASE WHEN i %% 100 = 42 AND j = 4 THEN 'ERROR' ELSE 'DEFAULT' END,
       CASE WHEN i %% 100 = 42 AND j = 4 THEN 'ERROR' ELSE 'OK' END,
       jsonb_build_object('messages', jsonb_build_array(
           jsonb_build_object('role', 'user', 'content', 'step ' || j || ' of run ' || i))),
       jsonb_build_object('content', 'result of step ' || j, 'ok', true),
       jsonb_build_object('otel.scope.name', 'swisper_studio.instrumentation'),
       CASE WHEN j %% 5 = 3 THEN 'gpt-4o-mini' END,
       CASE WHEN j %% 5 = 3 THEN jsonb_build_object('input', 120, 'output', 40, 'total', 160) END,
       CASE WHEN j %% 5 = 3 THEN 120 END,
       CASE WHEN j %% 5 = 3 THEN 40 END,
       CASE WHEN j %% 5 = 3 THEN 160 END,
       CASE WHEN j > 0 AND j %% 5 IN (1, 2) THEN 'node_' || j END,
       CASE WHEN j > 0 AND j %% 5 IN (1, 2) THEN j END,
       true, true
FROM generate_series(0, %(n)s - 1) AS i,
     generate_series(0, CASE WHEN i = %(big)s THEN %(big_obs)s ELSE %(per)s END - 1) AS j
"""


def fill(database_url: str, traces: int) -> tuple[int, str]:
    """Fill the tables; returns (observation count, id of the 200-observation trace)."""
    big = (traces // 2) - (traces // 2) % 10  # a trace of the benchmarked project
    params = {
        "n": traces,
        "project": PROJECT,
        "other": OTHER,
        "base": BASE,
        "spacing": SPACING_S,
        "big": big,
        "big_obs": BIG_TRACE_OBS,
        "per": OBS_PER_TRACE,
    }
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO projects (id, name) VALUES (%s, 'other') ON CONFLICT DO NOTHING", (OTHER,)
        )
        started = time.perf_counter()
        conn.execute(FILL_TRACES, params)
        conn.execute(FILL_OBSERVATIONS, params)
        conn.execute("VACUUM ANALYZE traces")
        conn.execute("VACUUM ANALYZE observations")
        count = conn.execute("SELECT count(*) FROM observations").fetchone()[0]
        print(f"filled {traces:,} traces and {count:,} observations in "
              f"{time.perf_counter() - started:.1f} s")  # fmt: skip
        big_id = conn.execute("SELECT md5('t' || %s::int)", (big,)).fetchone()[0]
    return count, big_id


def start_api(database_url: str, port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "SWISPER_STUDIO_DATABASE_URL": database_url,
        "SWISPER_STUDIO_REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",  # unused here
    }
    cli = [sys.executable, "-c", "from swisper_studio.collector.cli import main; main()"]
    proc = subprocess.Popen(
        [*cli, "api", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(
        lambda: httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200,
        timeout=60,
        what="the API",
    )
    return proc


def measure(client: httpx.Client, name: str, make_request, iterations: int) -> dict:
    for _ in range(max(5, iterations // 10)):  # warm-up: pool, caches, plans
        make_request()
    samples = []
    for _ in range(iterations):
        started = time.perf_counter()
        response = make_request()
        samples.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"{name}: HTTP {response.status_code}: {response.text[:200]}")
    samples.sort()
    return {
        "name": name,
        "p50": statistics.median(samples),
        "p95": samples[int(len(samples) * 0.95) - 1],
        "mean": statistics.fmean(samples),
        "rows": len(response.json().get("data", response.json().get("observations", [0]))),
    }


def run(database_url: str, traces: int, iterations: int) -> None:
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        _, key = create_project(conn, "bench", PROJECT)
    _, big_id = fill(database_url, traces)
    port = free_port()
    api = start_api(database_url, port)
    rng = random.Random(7)
    span_s = traces * SPACING_S
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        ) as client:
            first = client.get("/api/v1/traces", params={"limit": 50}).json()

            def window() -> dict:
                start = BASE + timedelta(seconds=rng.uniform(0, span_s - 3600))
                return {"from": start.isoformat(), "to": (start + timedelta(hours=1)).isoformat()}

            small_id = first["data"][3]["id"]
            cases = [
                ("list: first page (50)", lambda: client.get("/api/v1/traces", params={
                    "limit": 50})),
                ("list: by session", lambda: client.get("/api/v1/traces", params={
                    "session_id": f"session-{rng.randrange(traces // 5)}"})),
                ("list: by time window (1 h)", lambda: client.get("/api/v1/traces", params={
                    "limit": 50, **window()})),
                ("list: by user", lambda: client.get("/api/v1/traces", params={
                    "user_id": f"user-{rng.randrange(1000)}", "limit": 50})),
                ("list: second page (cursor)", lambda: client.get("/api/v1/traces", params={
                    "limit": 50, "cursor": first["next_cursor"]})),
                (f"detail: {BIG_TRACE_OBS} observations",
                 lambda: client.get(f"/api/v1/traces/{big_id}")),
                (f"detail: {OBS_PER_TRACE} observations",
                 lambda: client.get(f"/api/v1/traces/{small_id}")),
                ("sessions: first page (50)", lambda: client.get("/api/v1/sessions", params={
                    "limit": 50})),
                ("observations: GENERATION page", lambda: client.get("/api/v1/observations",
                    params={"type": "GENERATION", "limit": 50})),
                ("metrics (counts)", lambda: client.get("/api/v1/observability/metrics")),
            ]  # fmt: skip
            results = [measure(client, name, fn, iterations) for name, fn in cases]
    finally:
        api.terminate()
        api.wait(15)
    print(f"\n{iterations} requests each over HTTP (keep-alive), after warm-up:")
    print(f"{'request':34} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8} {'rows':>6}")
    for r in results:
        print(f"{r['name']:34} {r['p50']:8.1f} {r['p95']:8.1f} {r['mean']:8.1f} {r['rows']:6}")
    print("targets: list p95 < 100 ms, detail p95 < 100 ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 traces, 50 requests each")
    parser.add_argument("--traces", type=int, help="number of traces (default 100,000)")
    parser.add_argument("--iterations", type=int, help="requests per case (default 200)")
    parser.add_argument("--database-url", help="an empty database to fill (default: throwaway)")
    args = parser.parse_args()
    traces = args.traces or (10_000 if args.quick else 100_000)
    iterations = args.iterations or (50 if args.quick else 200)
    if args.database_url:
        run(args.database_url, traces, iterations)
        return
    server = PostgresServer().start()
    try:
        run(server.url(), traces, iterations)
    finally:
        server.close()


if __name__ == "__main__":
    main()
