"""Projects and their API keys.

A key is shown once, when it is made, and stored only as its sha256 hex digest (plus a short
prefix to tell keys apart). ``authenticate`` hashes the presented key and looks the digest up,
so a database dump never reveals a usable key. Keys are long random tokens, so a plain hash
(no salt, no slow KDF) is the usual and sufficient choice, as for GitHub or Stripe tokens.

The collector creates a project row on first sight of an unknown project id (``auto_created``,
no name, no key); ``create_project(conn, name, project_id=that_id)`` claims it.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import uuid

import psycopg

logger = logging.getLogger(__name__)

KEY_PREFIX = "sk-ss-"
"""Every key starts with this, so leaked keys are easy to recognise (and to scan for)."""

_PREFIX_CHARS = 12
_PROJECT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,199}$")

AUTHENTICATE_SQL = """
SELECT k.project_id
FROM api_keys k
WHERE k.key_hash = %s AND k.revoked_at IS NULL
"""


class ProjectExistsError(ValueError):
    """The project id is taken by a project that already has a name and keys."""


def hash_key(api_key: str) -> str:
    """The stored form of a key: sha256 hex of its UTF-8 bytes."""
    return hashlib.sha256(api_key.encode("utf-8", "surrogatepass")).hexdigest()


def generate_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def validate_project_id(project_id: str) -> str:
    """A project id: 1-200 characters of letters, digits and ``. _ : -``."""
    if not isinstance(project_id, str) or not _PROJECT_ID.match(project_id):
        raise ValueError(
            f"invalid project id {project_id!r}: use 1-200 letters, digits, '.', '_', ':' or '-'"
        )
    return project_id


def create_project(
    conn: psycopg.Connection, name: str, project_id: str | None = None
) -> tuple[str, str]:
    """Create a project (or claim one the collector created) and give it a new API key.

    Returns ``(project_id, api_key)``; the key is not stored and cannot be shown again.
    Without ``project_id`` a random id is chosen. Raises ``ProjectExistsError`` when the id
    belongs to a project that was already created (not auto-created) - use ``create_api_key``
    to add a key to it. Runs in its own transaction block (committed on exit unless the caller
    already has a transaction open).
    """
    name = (name or "").strip()
    if not name:
        raise ValueError("project name must not be empty")
    project_id = uuid.uuid4().hex[:16] if project_id is None else validate_project_id(project_id)
    with conn.transaction():
        row = conn.execute(
            "SELECT auto_created FROM projects WHERE id = %s FOR UPDATE", (project_id,)
        ).fetchone()
        if row is None:
            conn.execute(
                "INSERT INTO projects (id, name, auto_created) VALUES (%s, %s, false)",
                (project_id, name),
            )
        elif row[0]:
            conn.execute(
                "UPDATE projects SET name = %s, auto_created = false WHERE id = %s",
                (name, project_id),
            )
            logger.info("claimed auto-created project %s", project_id)
        else:
            raise ProjectExistsError(f"project {project_id!r} already exists")
        api_key = _insert_key(conn, project_id, name="default")
    return project_id, api_key


def create_api_key(conn: psycopg.Connection, project_id: str, name: str | None = None) -> str:
    """Add a new key to an existing project and return it (shown once)."""
    with conn.transaction():
        if conn.execute("SELECT 1 FROM projects WHERE id = %s", (project_id,)).fetchone() is None:
            raise LookupError(f"no project {project_id!r}")
        return _insert_key(conn, project_id, name=name)


def _insert_key(conn: psycopg.Connection, project_id: str, name: str | None) -> str:
    api_key = generate_key()
    conn.execute(
        "INSERT INTO api_keys (project_id, key_hash, key_prefix, name) VALUES (%s, %s, %s, %s)",
        (project_id, hash_key(api_key), api_key[:_PREFIX_CHARS], name),
    )
    return api_key


def authenticate(conn: psycopg.Connection, api_key: str) -> str | None:
    """The project id a valid, unrevoked key belongs to, else None."""
    if not api_key or not api_key.isprintable():
        return None
    row = conn.execute(AUTHENTICATE_SQL, (hash_key(api_key),)).fetchone()
    return row[0] if row else None


async def authenticate_async(conn: psycopg.AsyncConnection, api_key: str) -> str | None:
    """``authenticate`` for the API's async connection pool."""
    if not api_key or not api_key.isprintable():
        return None
    cur = await conn.execute(AUTHENTICATE_SQL, (hash_key(api_key),))
    row = await cur.fetchone()
    return row[0] if row else None
