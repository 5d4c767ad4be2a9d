"""Settings of the collector, the Studio API and the CLI: one object, from ``SWISPER_STUDIO_*``."""

from __future__ import annotations

import os
import socket
import uuid
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_STREAM = "observability:events"
DEFAULT_GROUP = "swisper_studio_consumers"


def _default_consumer_name() -> str:
    """Unique per process, readable in ``XINFO CONSUMERS``: host-pid-random."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class Settings(BaseSettings):
    """Each setting is the variable ``SWISPER_STUDIO_<NAME>`` (docs/configuration.md)."""

    model_config = SettingsConfigDict(
        env_prefix="SWISPER_STUDIO_", env_ignore_empty=True, extra="ignore", frozen=True
    )

    redis_url: str = Field(
        "redis://127.0.0.1:6379/0", description="Redis URL (redis://, rediss:// or unix://)."
    )
    database_url: str = Field(
        "postgresql://postgres@127.0.0.1:5432/swisper_studio",
        description="PostgreSQL URL (postgresql:// or postgres://).",
    )
    stream_name: str = Field(DEFAULT_STREAM, description="Redis stream the spans arrive on.")
    group_name: str = Field(DEFAULT_GROUP, description="Consumer group of the collectors.")
    consumer_name: str = Field(
        default_factory=_default_consumer_name,
        description="This collector's consumer name; unique per process by default.",
    )
    dead_letter_stream: str | None = Field(
        None, description="Dead-letter stream; default '<stream_name>:dead-letter'."
    )
    batch_size: Annotated[int, Field(gt=0, le=10_000)] = Field(
        500, description="Entries read per XREADGROUP."
    )
    block_ms: Annotated[int, Field(ge=0, le=60_000)] = Field(
        1000, description="XREADGROUP BLOCK time in milliseconds."
    )
    claim_idle_ms: Annotated[int, Field(gt=0)] = Field(
        30_000, description="Pending entries idle this long are taken over with XAUTOCLAIM."
    )
    max_deliveries: Annotated[int, Field(gt=0)] = Field(
        5, description="Deliveries after which a failing entry goes to the dead-letter stream."
    )
    heartbeat_interval_s: Annotated[float, Field(gt=0)] = Field(
        5.0, description="Seconds between consumer heartbeats."
    )
    heartbeat_ttl_s: Annotated[float, Field(gt=0)] = Field(
        15.0, description="TTL of a heartbeat key; a consumer silent this long counts as dead."
    )
    api_host: str = Field("127.0.0.1", description="Studio API bind address.")
    api_port: Annotated[int, Field(gt=0, lt=65536)] = Field(8000, description="Studio API port.")
    auth_disabled: bool = Field(
        False,
        description="Development mode: serve the API without API keys (loopback binds only).",
    )
    db_pool_max_size: Annotated[int, Field(gt=0)] = Field(
        10, description="Connections in the API's PostgreSQL pool."
    )

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str) -> str:
        if value.startswith("postgresql+psycopg://"):
            value = "postgresql://" + value.removeprefix("postgresql+psycopg://")
        if not value.startswith(("postgresql://", "postgres://")):
            raise ValueError("must start with postgresql://")
        return value

    @property
    def dead_letter_stream_name(self) -> str:
        return self.dead_letter_stream or f"{self.stream_name}:dead-letter"
