"""``swisper-studio up``: the whole pipeline on loopback in one command, until Ctrl-C."""

from __future__ import annotations

import logging
import os
import signal
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from swisper_studio.collector.allinone import (
    DEFAULT_DATA_DIR,
    DEFAULT_PROJECT_ID,
    AllInOne,
    StartupError,
    UpConfig,
    count_traces,
    wait_for_traces,
)
from swisper_studio.collector.cli._app import app, configure_logging
from swisper_studio.collector.cli.demo import print_demo_result, run_demo_traffic
from swisper_studio.collector.embedded import EmbeddedServerError

_STOP_SIGNALS = tuple(
    sig for sig in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)) if sig
)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _plain(console: Console, text: str) -> None:
    """A line scripts can parse: no markup, no highlighting, never wrapped."""
    console.print(text, markup=False, highlight=False, soft_wrap=True)


def _print_stack(console: Console, stack: AllInOne) -> None:
    kind = "embedded" if stack.embedded else "configured"
    _plain(console, f"Redis: {stack.redis_url} ({kind})")
    _plain(console, f"PostgreSQL: {stack.database_url} ({kind})")
    _plain(console, f"Logs: {stack.log_dir}")
    for name, pid in stack.pids().items():
        _plain(console, f"  {name}: pid {pid}")


def _print_ready(console: Console, stack: AllInOne) -> None:
    assert stack.credentials is not None
    reused = " (reused from credentials.json)" if stack.credentials.reused else ""
    console.rule("[bold green]SwisperStudio is up")
    _plain(console, f"Project: {stack.credentials.project_id}")
    _plain(console, f"API key: {stack.credentials.api_key}{reused}")
    _plain(console, f"Studio: {stack.api_url}/")
    console.print(
        "In another terminal (same folder): [bold]swisper-studio status[/], "
        "[bold]swisper-studio tail[/], [bold]swisper-studio demo[/]. Ctrl-C stops everything."
    )


def _run_demo(console: Console, stack: AllInOne, runs: int) -> None:
    from swisper_studio.collector.settings import Settings

    assert stack.redis_url and stack.database_url and stack.credentials
    settings = Settings(redis_url=stack.redis_url, database_url=stack.database_url)
    project_id = stack.credentials.project_id
    before = count_traces(stack.database_url, project_id)
    summary, stats, flushed = run_demo_traffic(
        redis_url=stack.redis_url,
        stream_name=settings.stream_name,
        project_id=project_id,
        runs=runs,
        console=console,
    )
    print_demo_result(console, summary, stats, flushed)
    with console.status("waiting for the collector to store the demo traces"):
        stored = wait_for_traces(stack.database_url, project_id, before + runs, timeout=60)
    _plain(console, f"Traces stored: {stored - before} of {runs} demo runs")


def _serve(console: Console, stack: AllInOne) -> int:
    """Watch the children until Ctrl-C / SIGTERM; a child that dies is an error."""
    while True:
        dead = stack.dead_child()
        if dead is not None:
            console.print(f"[red]{dead.name} exited with code {dead.exited()}[/]; log:")
            _plain(console, dead.log_tail())
            return 1
        time.sleep(0.5)


@app.command()
def up(
    host: Annotated[str, typer.Option(help="Studio API bind address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Studio API port.")] = 8000,
    data_dir: Annotated[
        Path, typer.Option(help="Embedded servers' data, logs and credentials.json.")
    ] = Path(DEFAULT_DATA_DIR),
    demo: Annotated[bool, typer.Option("--demo/--no-demo", help="Send demo traffic.")] = False,
    demo_runs: Annotated[int, typer.Option(min=0, help="Demo agent runs.")] = 24,
    project_id: Annotated[str, typer.Option(help="Default project id.")] = DEFAULT_PROJECT_ID,
    dev: Annotated[
        bool, typer.Option("--dev", help="Serve the API without API keys (loopback only).")
    ] = False,
    serve: Annotated[
        bool,
        typer.Option("--serve/--no-serve", help="Keep serving until Ctrl-C, or stop right away."),
    ] = True,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Start Redis, PostgreSQL (embedded unless configured), the collector and the Studio API.

    Embedded servers are used unless SWISPER_STUDIO_REDIS_URL / SWISPER_STUDIO_DATABASE_URL are
    set. Prints the project's API key and the Studio URL; Ctrl-C stops every process it started.
    """
    configure_logging(verbose)
    if not verbose:  # the terminal shows the summary; details are in --verbose and the logs
        logging.getLogger().setLevel(logging.WARNING)
    console = Console()
    config = UpConfig(
        host=host,
        port=port,
        data_dir=data_dir,
        redis_url=os.environ.get("SWISPER_STUDIO_REDIS_URL") or None,
        database_url=os.environ.get("SWISPER_STUDIO_DATABASE_URL") or None,
        project_id=project_id,
        dev=dev,
    )
    previous = {sig: signal.signal(sig, _raise_interrupt) for sig in _STOP_SIGNALS}
    stack = AllInOne(config)
    code = 0
    try:
        with console.status("starting Redis, PostgreSQL, collector and API"):
            stack.start()
        _print_stack(console, stack)
        if demo:
            _run_demo(console, stack, demo_runs)
        _print_ready(console, stack)
        if serve:
            code = _serve(console, stack)
    except KeyboardInterrupt:
        console.print("stopping ...")
    except (StartupError, EmbeddedServerError) as exc:
        console.print(f"[red]start-up failed:[/] {escape(str(exc))}", highlight=False)
        code = 1
    finally:
        for sig in _STOP_SIGNALS:  # a second Ctrl-C must not leave half the stack running
            signal.signal(sig, signal.SIG_IGN)
        stack.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        console.print("stopped.")
    if code:
        raise typer.Exit(code)
