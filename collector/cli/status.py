"""``swisper-studio status``: is the pipeline working, end to end?

Two views in one table: what an instrumented app sees (``verify_connection``: Redis reachable,
stream writable, a live consumer, an ``init_request`` answered by a collector) and what the
collector reports (``pipeline_health``: heartbeat, stream length, lag, pending, dead letters).
Exit code 0 when healthy (or degraded: printed as warnings), 1 when unhealthy.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from swisper_studio.collector.allinone import DEFAULT_DATA_DIR, http_ready, load_runtime
from swisper_studio.collector.cli._app import app
from swisper_studio.collector.cli._local import local_project_id, local_settings
from swisper_studio.collector.settings import Settings

SDK_CHECKS = ("redis", "write", "consumer", "end_to_end")


def check_ok(value: Any) -> bool | None:
    """Read one check result: a bool, or a mapping/object with ``ok`` (None = not run)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, Mapping):
        for key in ("ok", "passed", "success"):
            if key in value:
                return None if value[key] is None else bool(value[key])
        if "status" in value:
            return str(value["status"]).lower() in ("ok", "healthy", "pass", "passed")
        return None
    ok = getattr(value, "ok", None)
    return None if ok is None else bool(ok)


def check_detail(value: Any) -> str:
    if isinstance(value, Mapping):
        for key in ("error", "detail", "message", "reason"):
            if value.get(key):
                return str(value[key])
        rest = {k: v for k, v in value.items() if k not in ("ok", "passed", "success")}
        return ", ".join(f"{k}={v}" for k, v in rest.items())
    for key in ("error", "detail", "message"):
        if getattr(value, key, None):
            return str(getattr(value, key))
    return ""


def sdk_checks(settings: Settings, project_id: str, timeout_s: float) -> dict[str, Any]:
    try:
        from swisper_studio.exporter import verify_connection

        return dict(
            verify_connection(
                settings.redis_url,
                stream_name=settings.stream_name,
                group_name=settings.group_name,
                check_consumer=True,
                check_end_to_end=True,
                timeout_s=timeout_s,
                project_id=project_id,
            )
        )
    except Exception as exc:  # verify_connection reports; this is the belt to its braces
        return {"redis": {"ok": False, "error": f"{type(exc).__name__}: {exc}"}}


def collector_health(settings: Settings) -> dict[str, Any]:
    import redis
    from swisper_studio.collector.health import pipeline_health

    client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=3, socket_timeout=5)
    try:
        return dict(pipeline_health(client, settings))
    except Exception as exc:
        return {"status": "down", "warnings": [f"{type(exc).__name__}: {exc}"]}
    finally:
        client.close()


def evaluate(sdk: Mapping[str, Any], health: Mapping[str, Any]) -> tuple[str, list[str]]:
    """Overall verdict ``healthy`` / ``degraded`` / ``unhealthy`` and the reasons."""
    problems = [
        f"{name}: {check_detail(sdk.get(name)) or 'failed'}"
        for name in SDK_CHECKS
        if check_ok(sdk.get(name)) is False
    ]
    if check_ok(sdk.get("redis")) is None and "redis" not in sdk:
        problems.append("redis: not checked")
    if health.get("consumer_alive") is False:
        problems.append("collector: no live consumer (no heartbeat)")
    if health.get("status") == "down":
        problems.append("collector: pipeline down")
    if problems:
        return "unhealthy", problems
    warnings = [str(w) for w in health.get("warnings") or []]
    if health.get("status") == "degraded" or warnings:
        return "degraded", warnings
    return "healthy", []


def collector_rows(health: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The health report's headline figures as (label, text) rows."""
    rows = []
    consumers = health.get("consumers")
    if isinstance(consumers, list):
        names = ", ".join(str(c.get("consumer", "?")) for c in consumers if isinstance(c, dict))
        rows.append(("consumers", f"{len(consumers)} live" + (f" ({names})" if names else "")))
    for key in (
        "consumer_alive",
        "heartbeat_age_seconds",
        "stream_length",
        "pending_events",
        "group_lag",
        "dead_lettered",
        "trimming_risk",
        "error",
        "api",
    ):
        if key in health and (health[key] is not None or key == "consumer_alive"):
            rows.append((key, str(health[key])))
    rows.extend(("warning", str(warning)) for warning in health.get("warnings") or [])
    return rows


def _mark(ok: bool | None) -> str:
    return {True: "[green]ok[/]", False: "[red]FAIL[/]", None: "[dim]-[/]"}[ok]


def render(
    console: Console, settings: Settings, sdk: Mapping[str, Any], health: Mapping[str, Any]
) -> None:
    table = Table(title=f"SwisperStudio pipeline ({escape(settings.redis_url)})")
    table.add_column("check")
    table.add_column("result")
    table.add_column("detail", overflow="fold")
    for name in SDK_CHECKS:
        value = sdk.get(name)
        table.add_row(f"sdk: {name}", _mark(check_ok(value)), escape(check_detail(value)))
    table.add_section()
    for key, value in collector_rows(health):
        label = "studio: api" if key == "api" else f"collector: {key}"
        table.add_row(label, "", escape(value))
    status = str(health.get("status", "unknown"))
    colour = {"healthy": "green", "degraded": "yellow"}.get(status, "red")
    table.add_row("collector: status", f"[{colour}]{escape(status)}[/]", "")
    console.print(table)


@app.command()
def status(
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON instead.")] = False,
    redis_url: Annotated[str | None, typer.Option(help="Redis URL.")] = None,
    stream_name: Annotated[str | None, typer.Option(help="Stream key.")] = None,
    project_id: Annotated[str | None, typer.Option(help="Project id of the test event.")] = None,
    timeout: Annotated[float, typer.Option(min=0.1, help="Seconds per check.")] = 5.0,
    data_dir: Annotated[
        Path, typer.Option(help="Data folder of a running `swisper-studio up`.")
    ] = Path(DEFAULT_DATA_DIR),
) -> None:
    """Check Redis, the stream, the collector (heartbeat, lag) and the end-to-end path."""
    console = Console()
    settings = local_settings(data_dir, redis_url=redis_url, stream_name=stream_name)
    sdk = sdk_checks(settings, local_project_id(data_dir, project_id), timeout)
    health = collector_health(settings)
    verdict, reasons = evaluate(sdk, health)
    runtime = load_runtime(data_dir)
    if runtime is not None:  # started by `up`: its Studio API is part of the pipeline
        api_ready = http_ready(runtime.api_url + "/ready")
        health["api"] = f"{runtime.api_url} ({'ready' if api_ready else 'NOT ready'})"
        if not api_ready:
            verdict, reasons = "unhealthy", [*reasons, f"api: {runtime.api_url} not ready"]
    if json_output:
        payload = {"status": verdict, "reasons": reasons, "sdk": sdk, "collector": health}
        typer.echo(json.dumps(payload, default=str, indent=2))
    else:
        render(console, settings, sdk, health)
        colour = {"healthy": "green", "degraded": "yellow"}.get(verdict, "red")
        console.print(f"[bold {colour}]{verdict}[/]")
        for reason in reasons:
            console.print(f"  - {escape(reason)}")
    if verdict == "unhealthy":
        raise typer.Exit(1)
