"""The Studio API application: ``create_app(settings)`` builds it, uvicorn serves it."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import orjson
import psycopg
from fastapi import Depends, FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from psycopg.types.json import set_json_loads
from psycopg_pool import AsyncConnectionPool
from swisper_studio.collector.api.deps import (
    is_loopback_host,
    make_redis,
    reject_unknown_query_params,
)
from swisper_studio.collector.api.errors import ERROR_RESPONSES, install_error_handlers
from swisper_studio.collector.api.routes import health, observations, projects, sessions, traces
from swisper_studio.collector.migrate import migrate
from swisper_studio.collector.settings import Settings

logger = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"
STATEMENT_TIMEOUT_MS = 15_000
POOL_TIMEOUT_S = 5.0

DESCRIPTION = """\
Browse the traces, sessions and spans the SwisperStudio collector stores, and watch the
pipeline's health.

Every `/api/v1` call needs `Authorization: Bearer <key>` (a key from
`swisper-studio project create`) and sees only its project's data. Errors are
`{"error": {"code", "message"}}`. Lists page with opaque keyset cursors: pass `next_cursor`
back as `cursor`.
"""


class UnsafeDevModeError(ValueError):
    """Development mode (no API keys) was asked for on a non-loopback address."""


def check_dev_mode(settings: Settings) -> None:
    if settings.auth_disabled and not is_loopback_host(settings.api_host):
        raise UnsafeDevModeError(
            f"development mode (auth disabled) only serves loopback addresses, not "
            f"{settings.api_host!r}: bind to 127.0.0.1 or enable API keys"
        )


async def _configure_connection(conn: psycopg.AsyncConnection) -> None:
    set_json_loads(orjson.loads, conn)


def make_pool(settings: Settings) -> AsyncConnectionPool:
    return AsyncConnectionPool(
        settings.database_url,
        min_size=1,
        max_size=settings.db_pool_max_size,
        open=False,
        timeout=POOL_TIMEOUT_S,
        kwargs={
            "autocommit": True,
            "connect_timeout": 5,
            "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
        },
        configure=_configure_connection,
        check=AsyncConnectionPool.check_connection,
        name="swisper-studio-api",
    )


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    applied = await asyncio.to_thread(migrate, settings.database_url)
    if applied:
        logger.info("applied migrations: %s", ", ".join(applied))
    pool = make_pool(settings)
    await pool.open(wait=True, timeout=POOL_TIMEOUT_S)
    app.state.pool = pool
    app.state.redis = make_redis(settings)
    if settings.auth_disabled:
        logger.warning("development mode: the API serves without API keys (loopback only)")
    try:
        yield
    finally:
        await pool.close()
        app.state.pool = None
        app.state.redis.close()
        app.state.redis = None


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    logger.exception("unhandled error in %s %s", request.method, request.url.path)
    return JSONResponse(
        {"error": {"code": "internal_error", "message": "internal error; see the server log"}},
        status_code=500,
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the Studio API + web page. Raises ``UnsafeDevModeError`` for dev mode off loopback.

    Migrations run and the PostgreSQL pool opens when the app starts (its lifespan).
    """
    settings = settings or Settings()
    check_dev_mode(settings)
    app = FastAPI(
        title="SwisperStudio API",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_error_handlers(app)
    app.add_exception_handler(Exception, _on_unexpected)

    app.include_router(health.router)
    for module in (traces, observations, sessions, projects):
        app.include_router(
            module.router,
            dependencies=[Depends(reject_unknown_query_params)],
            responses=ERROR_RESPONSES,
        )
    _mount_ui(app)
    return app


def _mount_ui(app: FastAPI) -> None:
    index = STATIC_DIR / "index.html"

    @app.get("/", include_in_schema=False)
    async def ui_index() -> FileResponse:
        return FileResponse(index, headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.mount("/ui", StaticFiles(directory=STATIC_DIR, html=True), name="ui")
