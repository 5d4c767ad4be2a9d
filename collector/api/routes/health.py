"""Liveness, readiness and the web page's start-up config (no API key needed)."""

from __future__ import annotations

import asyncio
import logging
from importlib.metadata import PackageNotFoundError, version

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from swisper_studio.collector.api.deps import app_connection, get_redis
from swisper_studio.collector.api.pipeline import redis_reachable
from swisper_studio.collector.api.schemas import Liveness, Readiness, UiConfig

logger = logging.getLogger(__name__)

router = APIRouter(tags=["health"])

READY_TIMEOUT_S = 3.0


def _version() -> str:
    try:
        return version("swisper-studio")
    except PackageNotFoundError:
        return "unknown"


@router.get("/health", response_model=Liveness, summary="Liveness")
async def health() -> Liveness:
    """The process serves requests (checks nothing else)."""
    return Liveness()


async def _database_ok(request: Request) -> str | None:
    try:
        async with app_connection(request.app, timeout=READY_TIMEOUT_S) as conn:
            await conn.execute("SELECT 1")
    except Exception as exc:  # any failure means "not ready"; the reason goes to the body
        return f"PostgreSQL: {type(exc).__name__}: {exc}"
    return None


@router.get(
    "/ready",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "PostgreSQL or Redis unreachable."}},
    summary="Readiness",
)
async def ready(request: Request) -> JSONResponse:
    """200 when PostgreSQL and Redis both answer, else 503 with the reasons."""
    db_error, redis_ok = await asyncio.gather(
        _database_ok(request), redis_reachable(get_redis(request))
    )
    errors = [db_error] if db_error else []
    if not redis_ok:
        errors.append("Redis: unreachable")
    body = Readiness(
        status="not_ready" if errors else "ready",
        database=db_error is None,
        redis=redis_ok,
        errors=errors,
    )
    return JSONResponse(body.model_dump(), status_code=503 if errors else 200)


@router.get(
    "/api/config",
    response_model=UiConfig,
    summary="Web page config",
    description="Whether API keys are required (false in development mode). No data.",
)
async def ui_config(request: Request) -> UiConfig:
    settings = request.app.state.settings
    return UiConfig(
        auth_required=not settings.auth_disabled,
        dev_mode=settings.auth_disabled,
        version=_version(),
    )
