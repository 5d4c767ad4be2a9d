"""``swisper-studio project create``: a project and its first API key."""

from __future__ import annotations

import json
import sys

import typer
from swisper_studio.collector.cli._app import configure_logging, project_app
from swisper_studio.collector.settings import Settings


@project_app.command("create")
def create(
    name: str = typer.Argument(..., help="Human-readable project name."),
    project_id: str | None = typer.Option(
        None,
        "--id",
        help="Project id (the exporter's SWISPER_STUDIO_PROJECT_ID); claims a project the "
        "collector created on first sight. Default: a random id.",
    ),
    as_json: bool = typer.Option(
        False, "--json", help='Print one JSON object {"project_id", "api_key"} and nothing else.'
    ),
    database_url: str | None = typer.Option(
        None, "--database-url", help="PostgreSQL URL (default: SWISPER_STUDIO_DATABASE_URL)."
    ),
) -> None:
    """Create a project (or claim an auto-created one) and print its id and a new API key."""
    import psycopg
    from swisper_studio.collector.migrate import migrate
    from swisper_studio.collector.projects import create_project

    configure_logging(False)
    settings = Settings(database_url=database_url) if database_url else Settings()
    try:
        migrate(settings.database_url)
        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            pid, api_key = create_project(conn, name, project_id=project_id)
    except ValueError as exc:  # includes ProjectExistsError and a bad id
        print(f"error: {exc}", file=sys.stderr)
        raise typer.Exit(1) from None
    except psycopg.OperationalError as exc:
        print(f"error: cannot reach PostgreSQL: {exc}", file=sys.stderr)
        raise typer.Exit(1) from None
    if as_json:
        print(json.dumps({"project_id": pid, "api_key": api_key}))
        return
    print(f"project_id: {pid}")
    print(f"api_key:    {api_key}")
    print("The key is shown once; it is stored only as a hash.", file=sys.stderr)
