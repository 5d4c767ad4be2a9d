"""Migrations: applied once, idempotent, safe when several starters race."""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
from swisper_studio.collector.migrate import applied_migrations, available_migrations, migrate

CLI = str(Path(sys.executable).parent / "swisper-studio")


def test_migrate_twice_applies_once(database_url):
    versions = [version for version, _ in available_migrations()]
    assert versions[0] == "0001_initial"
    assert migrate(database_url) == versions
    assert migrate(database_url) == []
    with psycopg.connect(database_url) as conn:
        assert applied_migrations(conn) == versions
        tables = {
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            ).fetchall()
        }
    assert {"projects", "api_keys", "traces", "observations", "schema_migrations"} <= tables


def test_concurrent_starters_apply_each_migration_exactly_once(database_url):
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: migrate(database_url), range(4)))
    applied = [version for result in results for version in result]
    assert sorted(applied) == [version for version, _ in available_migrations()]


def test_cli_migrate_prints_what_it_applied(database_url):
    first = subprocess.run(
        [CLI, "migrate", "--database-url", database_url], capture_output=True, text=True, timeout=60
    )
    assert first.returncode == 0, first.stderr
    assert "applied 0001_initial" in first.stdout
    again = subprocess.run(
        [CLI, "migrate"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"SWISPER_STUDIO_DATABASE_URL": database_url, "PATH": "/usr/bin:/bin"},
    )
    assert again.returncode == 0, again.stderr
    assert "up to date" in again.stdout
