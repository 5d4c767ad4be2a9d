"""The collector pipeline's health as the API reports it (Redis side, read in a thread)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import redis
from swisper_studio.collector.health import pipeline_health
from swisper_studio.collector.settings import Settings

logger = logging.getLogger(__name__)


def _read(client: redis.Redis, settings: Settings) -> dict[str, Any]:
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        return {
            "status": "down",
            "consumer_alive": False,
            "redis_reachable": False,
            "warnings": [f"Redis unreachable: {exc}"],
        }
    health = dict(pipeline_health(client, settings))  # never raises: reports "down"
    health["redis_reachable"] = True
    return health


async def read_pipeline_health(client: redis.Redis, settings: Settings) -> dict[str, Any]:
    """``collector.health.pipeline_health`` plus ``redis_reachable``; never raises for Redis."""
    return await asyncio.to_thread(_read, client, settings)


async def redis_reachable(client: redis.Redis) -> bool:
    def ping() -> bool:
        try:
            return bool(client.ping())
        except (redis.RedisError, OSError):
            return False

    return await asyncio.to_thread(ping)
