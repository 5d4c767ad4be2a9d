"""``swisper-studio demo``: run the demo agent, traced into the Redis stream.

The instrumentation and the demo agent (LangGraph) are imported inside the command: the
collector package never imports the instrumentation at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from swisper_studio.collector.allinone import DEFAULT_DATA_DIR
from swisper_studio.collector.cli._app import app
from swisper_studio.collector.cli._local import local_project_id, local_settings

DEFAULT_RUNS = 24


def run_demo_traffic(
    *,
    redis_url: str,
    stream_name: str,
    project_id: str,
    runs: int,
    console: Console,
    session_prefix: str = "demo",
) -> tuple[Any, dict[str, Any], bool]:
    """Run the instrumented demo agent ``runs`` times; returns (summary, stats, flushed)."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from swisper_studio.demo import build_demo_graph, run_demo
    from swisper_studio.exporter import RedisStreamSpanProcessor
    from swisper_studio.instrumentation import instrument_langgraph, uninstrument_langgraph

    provider = TracerProvider(resource=Resource.create({"service.name": "swisper-studio-demo"}))
    processor = RedisStreamSpanProcessor(
        redis_url=redis_url, stream_name=stream_name, project_id=project_id
    )
    provider.add_span_processor(processor)
    instrument_langgraph(tracer_provider=provider)
    try:
        graph = build_demo_graph()
        with Progress(
            TextColumn("[bold]demo agent"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[last]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        ) as progress:
            task = progress.add_task("runs", total=runs, last="")

            def advance(outcome: Any) -> None:
                mark = "[red]error[/]" if outcome.error else "[green]ok[/]"
                label = f"{mark} {outcome.spec.user_id}/{outcome.spec.session_id}"
                progress.update(task, advance=1, last=label)

            summary = run_demo(runs, graph=graph, session_prefix=session_prefix, on_run=advance)
    finally:
        flushed = provider.force_flush(timeout_millis=15_000)
        stats = dict(processor.stats())
        uninstrument_langgraph()
        provider.shutdown()
    return summary, stats, flushed


def _flatten(stats: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in stats.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def print_demo_result(console: Console, summary: Any, stats: dict[str, Any], flushed: bool) -> None:
    failed = f", {summary.failed} failed on purpose (guardrail)" if summary.failed else ""
    console.print(
        f"{summary.runs} runs{failed}; {len(summary.users)} users, {len(summary.sessions)} sessions"
    )
    flat = _flatten(stats)
    line = (
        f"exporter: {flat.get('enqueued', '?')} span events enqueued, "
        f"{flat.get('published', '?')} published, {flat.get('dropped_total', '?')} dropped"
    )
    problems = {
        key: value
        for key, value in flat.items()
        if key not in ("enqueued", "published", "dropped_total", "max_queue_size", "queue_size")
        and isinstance(value, (int, float))
        and not isinstance(value, bool)
        and value
    }
    if problems:
        line += " (" + ", ".join(f"{k} {v}" for k, v in problems.items()) + ")"
    console.print(line, highlight=False)
    if flat.get("last_error"):
        console.print(f"[yellow]last exporter error: {escape(str(flat['last_error']))}")
    if not flushed:
        console.print("[yellow]force_flush timed out: some span events may still be queued")


def _require_redis(console: Console, redis_url: str) -> None:
    """Fail fast with a clear message instead of tracing into a queue nobody drains."""
    import redis

    client = redis.Redis.from_url(redis_url, socket_connect_timeout=3, socket_timeout=3)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        console.print(
            f"[red]cannot reach Redis at {escape(redis_url)}:[/] {escape(str(exc))}\n"
            "Start `swisper-studio up` (in this folder) or set SWISPER_STUDIO_REDIS_URL."
        )
        raise typer.Exit(1) from None
    finally:
        client.close()


@app.command()
def demo(
    runs: Annotated[int, typer.Option("--runs", "-n", min=0, help="Agent runs.")] = DEFAULT_RUNS,
    redis_url: Annotated[
        str | None, typer.Option(help="Redis URL (default: SWISPER_STUDIO_REDIS_URL / `up`).")
    ] = None,
    project_id: Annotated[
        str | None, typer.Option(help="Project id (default: SWISPER_STUDIO_PROJECT_ID).")
    ] = None,
    stream_name: Annotated[str | None, typer.Option(help="Stream key.")] = None,
    session_prefix: Annotated[str, typer.Option(help="Prefix of the session ids.")] = "demo",
    data_dir: Annotated[
        Path, typer.Option(help="Data folder of a running `swisper-studio up`.")
    ] = Path(DEFAULT_DATA_DIR),
) -> None:
    """Run the demo LangGraph agent N times (sessions, users, tools, errors), traced to Redis."""
    console = Console()
    settings = local_settings(data_dir, redis_url=redis_url, stream_name=stream_name)
    project = local_project_id(data_dir, project_id)
    _require_redis(console, settings.redis_url)
    console.print(f"sending spans to {settings.redis_url} stream {settings.stream_name!r}")
    summary, stats, flushed = run_demo_traffic(
        redis_url=settings.redis_url,
        stream_name=settings.stream_name,
        project_id=project,
        runs=runs,
        console=console,
        session_prefix=session_prefix,
    )
    print_demo_result(console, summary, stats, flushed)
    if not flushed:
        raise typer.Exit(1)
