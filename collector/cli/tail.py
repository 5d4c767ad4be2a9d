"""``swisper-studio tail``: span events as they arrive on the stream, one line each."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from swisper_studio.collector.allinone import DEFAULT_DATA_DIR
from swisper_studio.collector.cli._app import app
from swisper_studio.collector.cli._local import local_settings
from swisper_studio.exporter.wire import InitRequest, SpanEvent, WireFormatError, decode_entry


def _clock(unix_nano: int | None) -> str:
    if not unix_nano:
        return "--:--:--.---"
    moment = datetime.fromtimestamp(unix_nano / 1e9, tz=timezone.utc).astimezone()
    return moment.strftime("%H:%M:%S.%f")[:-3]


def _kind(event: SpanEvent) -> str:
    kind = event.attributes.get("openinference.span.kind")
    return str(kind) if kind else ""


def format_event(entry_id: str, event: SpanEvent | InitRequest) -> str:
    """One rich-markup line for a decoded stream entry."""
    if isinstance(event, InitRequest):
        return f"[magenta]{'init_request':<10}[/] request {escape(event.request_id)}"
    ids = f"{event.trace_id[:8]}/{event.span_id[:8]}"
    name = escape(event.name)
    kind = f"[dim]{escape(_kind(event)):<9}[/]"
    if not event.is_end:
        return f"{_clock(event.start_time_unix_nano)} [cyan]{'start':<6}[/] {ids} {kind} {name}"
    duration = ""
    if event.end_time_unix_nano:
        duration = f"{(event.end_time_unix_nano - event.start_time_unix_nano) / 1e6:9.1f} ms"
    if event.status_code == "ERROR":
        status = f"[red]ERROR[/] {escape(event.status_message or '')}"
    else:
        status = f"[green]{event.status_code}[/]"
    when = _clock(event.end_time_unix_nano)
    return f"{when} [bold]{'end':<6}[/] {ids} {kind} {name} {duration} {status}"


def _start_id(client: Any, stream: str, from_start: bool) -> str:
    """Where to read from: the beginning, or the stream's current last entry ("$", resolved)."""
    if from_start:
        return "0-0"
    last = client.xrevrange(stream, count=1)
    return last[0][0].decode() if last else "0-0"


def follow(client: Any, stream: str, start_id: str, block_ms: int = 1000):
    """Yield ``(entry_id, fields)`` forever, from after ``start_id``."""
    last_id = start_id
    while True:
        for _, entries in client.xread({stream: last_id}, count=200, block=block_ms) or []:
            for entry_id, fields in entries:
                last_id = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
                yield last_id, fields


@app.command()
def tail(
    count: Annotated[
        int | None, typer.Option("--count", "-n", min=1, help="Stop after N events.")
    ] = None,
    from_start: Annotated[
        bool, typer.Option("--from-start", help="Begin with the oldest entry in the stream.")
    ] = False,
    redis_url: Annotated[str | None, typer.Option(help="Redis URL.")] = None,
    stream_name: Annotated[str | None, typer.Option(help="Stream key.")] = None,
    data_dir: Annotated[
        Path, typer.Option(help="Data folder of a running `swisper-studio up`.")
    ] = Path(DEFAULT_DATA_DIR),
) -> None:
    """Print span events live as they arrive on the Redis stream (Ctrl-C to stop)."""
    import redis

    console = Console()
    settings = local_settings(data_dir, redis_url=redis_url, stream_name=stream_name)
    client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=5)
    try:
        start = _start_id(client, settings.stream_name, from_start)
    except redis.RedisError as exc:
        console.print(f"[red]cannot read {settings.redis_url}:[/] {escape(str(exc))}")
        raise typer.Exit(1) from exc
    console.print(f"[dim]tailing {escape(settings.stream_name)} on {settings.redis_url}[/]")
    seen = 0
    try:
        for entry_id, fields in follow(client, settings.stream_name, start):
            try:
                line = format_event(entry_id, decode_entry(fields))
            except WireFormatError as exc:
                line = f"[yellow]invalid entry {entry_id}: {escape(str(exc))}[/]"
            console.print(line, highlight=False, soft_wrap=True)
            seen += 1
            if count is not None and seen >= count:
                return
    except KeyboardInterrupt:
        return
    except redis.RedisError as exc:
        console.print(f"[red]lost the connection:[/] {escape(str(exc))}")
        raise typer.Exit(1) from exc
    finally:
        client.close()
