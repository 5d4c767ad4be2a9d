"""``swisper-studio api``: serve the Studio API and the trace browser with uvicorn."""

from __future__ import annotations

import sys

import typer
from pydantic import ValidationError
from swisper_studio.collector.cli._app import app, configure_logging
from swisper_studio.collector.settings import Settings


@app.command("api")
def api(
    host: str | None = typer.Option(
        None, "--host", help="Bind address (default: SWISPER_STUDIO_API_HOST or 127.0.0.1)."
    ),
    port: int | None = typer.Option(
        None, "--port", help="Port (default: SWISPER_STUDIO_API_PORT or 8000)."
    ),
    dev: bool = typer.Option(
        False,
        "--dev",
        help="Development mode: no API keys (only allowed on a loopback address).",
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    """Serve the Studio API and web page (migrations run at start-up)."""
    import uvicorn
    from swisper_studio.collector.api.app import UnsafeDevModeError, create_app

    configure_logging(verbose)
    overrides: dict[str, object] = {}
    if host is not None:
        overrides["api_host"] = host
    if port is not None:
        overrides["api_port"] = port
    if dev:
        overrides["auth_disabled"] = True
    try:
        settings = Settings(**overrides)
        application = create_app(settings)
    except (UnsafeDevModeError, ValidationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(2) from None
    print(f"SwisperStudio API on http://{settings.api_host}:{settings.api_port}/", flush=True)
    uvicorn.run(
        application,
        host=settings.api_host,
        port=settings.api_port,
        log_level="debug" if verbose else "info",
        proxy_headers=False,
    )
