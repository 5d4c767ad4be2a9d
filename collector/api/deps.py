"""Request dependencies: settings, a pooled PostgreSQL connection, the caller's project."""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

import psycopg
import redis
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from psycopg_pool import AsyncConnectionPool
from swisper_studio.collector.api.aliases import (
    ALIAS_ERROR_KEY,
    accepted_names,
    allowed_query_params,
)
from swisper_studio.collector.api.errors import ApiError
from swisper_studio.collector.projects import authenticate_async, validate_project_id
from swisper_studio.collector.settings import Settings

DEFAULT_PROJECT = "default"
REDIS_TIMEOUT_S = 2.0

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="A project API key from `swisper-studio project create`: "
    "`Authorization: Bearer sk-ss-...`.",
)


def is_loopback_host(host: str) -> bool:
    """True for localhost, 127.0.0.0/8 and ::1 (the only binds dev mode accepts)."""
    host = host.strip("[]")
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_pool(request: Request) -> AsyncConnectionPool:
    return request.app.state.pool


def get_redis(request: Request) -> redis.Redis:
    client = getattr(request.app.state, "redis", None)
    if client is None:  # lifespan not run: make the client on first use
        client = request.app.state.redis = make_redis(request.app.state.settings)
    return client


def make_redis(settings: Settings) -> redis.Redis:
    """The API's Redis client (health checks only): short timeouts, never blocks a request."""
    return redis.Redis.from_url(
        settings.redis_url, socket_timeout=REDIS_TIMEOUT_S, socket_connect_timeout=REDIS_TIMEOUT_S
    )


@asynccontextmanager
async def app_connection(
    app: Any, timeout: float | None = None
) -> AsyncIterator[psycopg.AsyncConnection]:
    """A connection from the app's pool, or a direct one when the lifespan has not run
    (e.g. a ``TestClient`` used without ``with``), so such callers get answers, not 500s."""
    pool: AsyncConnectionPool | None = getattr(app.state, "pool", None)
    if pool is not None:
        async with pool.connection(timeout=timeout) as conn:
            yield conn
        return
    conn = await psycopg.AsyncConnection.connect(
        app.state.settings.database_url, autocommit=True, connect_timeout=5
    )
    async with conn:
        yield conn


async def get_conn(request: Request) -> AsyncIterator[psycopg.AsyncConnection]:
    """One pooled connection per request (autocommit; read-only queries)."""
    async with app_connection(request.app) as conn:
        yield conn


Conn = Annotated[psycopg.AsyncConnection, Depends(get_conn)]
AppSettings = Annotated[Settings, Depends(get_settings)]
Redis = Annotated[redis.Redis, Depends(get_redis)]


def _unauthorized(message: str) -> ApiError:
    return ApiError(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


async def get_project_id(
    request: Request,
    conn: Conn,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> str:
    """The project of the request's API key; in dev mode, see ``_dev_project``."""
    settings: Settings = request.app.state.settings
    if settings.auth_disabled:
        return await _dev_project(request, conn)
    if credentials is None:
        raise _unauthorized("missing API key: send 'Authorization: Bearer <key>'")
    project_id = await authenticate_async(conn, credentials.credentials)
    if project_id is None:
        raise _unauthorized("invalid or revoked API key")
    return project_id


async def _dev_project(request: Request, conn: psycopg.AsyncConnection) -> str:
    """Dev mode (no keys): ``X-Project-Id`` if sent, else "default" if it exists, else the
    only project if there is exactly one, else "default".

    The server refuses to start in dev mode unless bound to loopback; as a second fence a
    request from a non-loopback peer address is refused too.
    """
    client = request.client.host if request.client else None
    if client and _is_ip(client) and not is_loopback_host(client):
        raise ApiError(403, "forbidden", "development mode serves loopback clients only")
    header = request.headers.get("x-project-id")
    if header:
        try:
            return validate_project_id(header)
        except ValueError as exc:
            raise ApiError(400, "bad_request", f"X-Project-Id: {exc}") from exc
    cur = await conn.execute(
        "SELECT id FROM projects ORDER BY (id = %s) DESC, created_at LIMIT 2", (DEFAULT_PROJECT,)
    )
    rows = await cur.fetchall()
    if len(rows) == 1 or (rows and rows[0][0] == DEFAULT_PROJECT):
        return rows[0][0]
    return DEFAULT_PROJECT


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


ProjectId = Annotated[str, Depends(get_project_id)]


async def reject_unknown_query_params(request: Request, _project: ProjectId) -> None:
    """A misspelt filter must not silently return everything: answer 400 instead.

    Aliases (see ``aliases.py``) were mapped to canonical names already; a conflict found
    then is answered here. Depends on the project so an unauthenticated call gets its 401 first.
    """
    conflict = request.scope.get(ALIAS_ERROR_KEY)
    if conflict:
        raise ApiError(400, "conflicting_parameters", conflict)
    route = request.scope.get("route")
    if route is None or not hasattr(route, "dependant"):
        return
    allowed = allowed_query_params(route)
    unknown = sorted({key[:100] for key in request.query_params if key not in allowed})
    if unknown:
        raise ApiError(
            400,
            "unknown_parameter",
            f"unknown query parameter(s): {', '.join(unknown)}; "
            f"accepted: {accepted_names(allowed)}",
        )
