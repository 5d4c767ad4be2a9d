"""``swisper-studio collector``: run the stream consumer until SIGTERM/SIGINT."""

from __future__ import annotations

import typer
from swisper_studio.collector.cli._app import app, configure_logging
from swisper_studio.collector.consumer import Consumer
from swisper_studio.collector.settings import Settings


@app.command("collector")
def collector(
    redis_url: str | None = typer.Option(
        None, "--redis-url", help="Redis URL (SWISPER_STUDIO_REDIS_URL)."
    ),
    database_url: str | None = typer.Option(
        None, "--database-url", help="PostgreSQL URL (SWISPER_STUDIO_DATABASE_URL)."
    ),
    stream_name: str | None = typer.Option(
        None, "--stream", "--stream-name", help="Stream to consume (SWISPER_STUDIO_STREAM_NAME)."
    ),
    group_name: str | None = typer.Option(
        None, "--group", "--group-name", help="Consumer group (SWISPER_STUDIO_GROUP_NAME)."
    ),
    consumer_name: str | None = typer.Option(
        None, "--consumer-name", "--consumer", help="Consumer name (unique per process)."
    ),
    batch_size: int | None = typer.Option(None, help="Entries per XREADGROUP."),
    block_ms: int | None = typer.Option(None, help="XREADGROUP BLOCK in milliseconds."),
    claim_idle_ms: int | None = typer.Option(None, help="Idle time before XAUTOCLAIM takes over."),
    max_deliveries: int | None = typer.Option(None, help="Deliveries before dead-lettering."),
    migrate: bool = typer.Option(True, help="Apply schema migrations at start-up."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging."),
) -> None:
    """Consume span events from Redis into PostgreSQL (scale out: run several)."""
    configure_logging(verbose)
    overrides = {
        "redis_url": redis_url,
        "database_url": database_url,
        "stream_name": stream_name,
        "group_name": group_name,
        "consumer_name": consumer_name,
        "batch_size": batch_size,
        "block_ms": block_ms,
        "claim_idle_ms": claim_idle_ms,
        "max_deliveries": max_deliveries,
    }
    settings = Settings(**{key: value for key, value in overrides.items() if value is not None})
    print(
        f"swisper-studio collector: stream={settings.stream_name} group={settings.group_name} "
        f"consumer={settings.consumer_name} dead-letter={settings.dead_letter_stream_name}",
        flush=True,
    )
    consumer = Consumer(settings, run_migrations=migrate)
    consumer.run()
    stats = consumer.stats()
    print(
        f"swisper-studio collector stopped: processed={stats['processed']} "
        f"failed={stats['failed']} dead_lettered={stats['dead_lettered']}",
        flush=True,
    )
