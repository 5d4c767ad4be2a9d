"""``swisper-studio migrate``: apply the pending schema migrations and print what was applied."""

from __future__ import annotations

import typer
from swisper_studio.collector.cli._app import app, configure_logging
from swisper_studio.collector.migrate import migrate as apply_migrations
from swisper_studio.collector.settings import Settings


@app.command("migrate")
def migrate(
    database_url: str | None = typer.Option(
        None, "--database-url", help="PostgreSQL URL (default: SWISPER_STUDIO_DATABASE_URL)."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    """Apply pending schema migrations (safe to run concurrently and repeatedly)."""
    configure_logging(verbose)
    settings = Settings(database_url=database_url) if database_url else Settings()
    applied = apply_migrations(settings.database_url)
    if applied:
        for version in applied:
            print(f"applied {version}")
    else:
        print("schema up to date")
