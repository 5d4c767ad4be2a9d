"""Projects and API keys (collector/projects.py) and the ``project create`` / ``api`` commands."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import psycopg
import pytest
from servers import free_port, wait_for
from swisper_studio.collector.migrate import migrate
from swisper_studio.collector.projects import (
    KEY_PREFIX,
    ProjectExistsError,
    authenticate,
    create_api_key,
    create_project,
    hash_key,
)

CLI = str(Path(sys.executable).with_name("swisper-studio"))


@pytest.fixture
def db(database_url: str):
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn


def test_key_is_stored_only_as_its_hash(db):
    project_id, key = create_project(db, "Shop", "shop")
    assert project_id == "shop"
    assert key.startswith(KEY_PREFIX) and len(key) > 40
    rows = db.execute("SELECT key_hash, key_prefix FROM api_keys").fetchall()
    assert rows == [(hash_key(key), key[:12])]
    dump = json.dumps(db.execute("SELECT row_to_json(k) FROM api_keys k").fetchall())
    assert key not in dump
    assert authenticate(db, key) == "shop"
    assert authenticate(db, key + "x") is None
    assert authenticate(db, "") is None


def test_random_id_and_second_key(db):
    project_id, first = create_project(db, "Unnamed")
    assert project_id
    second = create_api_key(db, project_id, name="ci")
    assert first != second
    assert authenticate(db, first) == authenticate(db, second) == project_id
    with pytest.raises(LookupError):
        create_api_key(db, "nope")


def test_claims_a_project_the_collector_created(db):
    db.execute("INSERT INTO projects (id, name, auto_created) VALUES ('seen', 'seen', true)")
    project_id, key = create_project(db, "Seen in events", "seen")
    assert project_id == "seen"
    name, auto = db.execute("SELECT name, auto_created FROM projects WHERE id = 'seen'").fetchone()
    assert (name, auto) == ("Seen in events", False)
    assert authenticate(db, key) == "seen"
    with pytest.raises(ProjectExistsError):
        create_project(db, "again", "seen")


@pytest.mark.parametrize("bad", ["", "has space", "x" * 201, "-leading", "semi;colon"])
def test_invalid_project_ids_are_refused(db, bad):
    with pytest.raises(ValueError):
        create_project(db, "name", bad)


def test_empty_name_is_refused(db):
    with pytest.raises(ValueError):
        create_project(db, "  ", "ok")


def cli(*args: str, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CLI, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def test_project_create_json_prints_one_object(database_url):
    result = cli(
        "project", "create", "Demo", "--id", "demo", "--json", "--database-url", database_url
    )
    assert result.returncode == 0, result.stderr
    body = json.loads(result.stdout)
    assert set(body) == {"project_id", "api_key"}
    assert body["project_id"] == "demo"
    with psycopg.connect(database_url) as conn:
        assert authenticate(conn, body["api_key"]) == "demo"

    again = cli("project", "create", "Demo", "--id", "demo", "--database-url", database_url)
    assert again.returncode == 1
    assert "already exists" in again.stderr

    plain = cli("project", "create", "Other", env={"SWISPER_STUDIO_DATABASE_URL": database_url})
    assert plain.returncode == 0, plain.stderr
    assert "project_id:" in plain.stdout and KEY_PREFIX in plain.stdout


def test_api_command_serves_with_keys(database_url, redis_url):
    migrate(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        _, key = create_project(conn, "Served", "served")
    port = free_port()
    env = {"SWISPER_STUDIO_DATABASE_URL": database_url, "SWISPER_STUDIO_REDIS_URL": redis_url}
    proc = subprocess.Popen(
        [CLI, "api", "--host", "127.0.0.1", "--port", str(port)],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_for(lambda: httpx.get(f"{base}/ready", timeout=2).status_code == 200, timeout=60)
        assert httpx.get(f"{base}/api/v1/traces").status_code == 401
        ok = httpx.get(f"{base}/api/v1/traces", headers={"Authorization": f"Bearer {key}"})
        assert ok.status_code == 200 and ok.json() == {"data": [], "next_cursor": None}
        assert "SwisperStudio" in httpx.get(f"{base}/").text
    finally:
        proc.terminate()
        proc.wait(15)


def test_api_command_refuses_dev_mode_off_loopback(database_url):
    result = cli(
        "api", "--dev", "--host", "0.0.0.0", "--port", str(free_port()),
        env={"SWISPER_STUDIO_DATABASE_URL": database_url},
    )  # fmt: skip
    assert result.returncode == 2
    assert "loopback" in result.stderr
