"""Versioned schema migrations: ordered ``migrations/NNNN_name.sql`` files applied once each.

Every starter (collector, Studio API, ``swisper-studio migrate``) calls :func:`migrate`; a
PostgreSQL advisory lock serialises them, so concurrent start-ups never race, and the
``schema_migrations`` table makes a second run a no-op. Each file runs in its own transaction.
"""

from __future__ import annotations

import logging
from importlib import resources

import psycopg

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

# Arbitrary but fixed: pg_advisory_lock key shared by every process migrating this database.
MIGRATION_LOCK_ID = 0x5157_1590_0001
MIGRATIONS_PACKAGE = "swisper_studio.collector.migrations"

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     text PRIMARY KEY,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


def available_migrations() -> list[tuple[str, str]]:
    """``(version, sql)`` pairs in apply order; the version is the file name without ``.sql``."""
    root = resources.files(MIGRATIONS_PACKAGE)
    files = sorted(
        (entry for entry in root.iterdir() if entry.name.endswith(".sql")),
        key=lambda entry: entry.name,
    )
    return [(entry.name.removesuffix(".sql"), entry.read_text(encoding="utf-8")) for entry in files]


def applied_migrations(conn: psycopg.Connection) -> list[str]:
    """Versions already applied to the database behind ``conn`` (empty before the first run)."""
    exists = conn.execute("SELECT to_regclass('schema_migrations') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return []
    return [row[0] for row in conn.execute("SELECT version FROM schema_migrations ORDER BY 1")]


def migrate(database_url: str) -> list[str]:
    """Apply the pending migrations; return the versions applied by this call (may be empty)."""
    applied_now: list[str] = []
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_advisory_lock(%s)", (MIGRATION_LOCK_ID,))
        try:
            conn.execute(_CREATE_TABLE)
            done = set(applied_migrations(conn))
            for version, sql in available_migrations():
                if version in done:
                    continue
                with conn.transaction():
                    conn.execute(sql)
                    conn.execute("INSERT INTO schema_migrations (version) VALUES (%s)", (version,))
                logger.info("applied migration %s", version)
                applied_now.append(version)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (MIGRATION_LOCK_ID,))
    return applied_now
