"""``ExporterConfig``: every exporter setting in one frozen object.

Precedence is constructor argument > ``SWISPER_STUDIO_*`` environment variable > default.
An empty environment value counts as unset (OpenTelemetry's rule). Every other malformed value
is a clear error at construction, whether it comes from the environment or an argument: a
``ValueError`` naming the setting (the variable, for the environment) and the bad value, and a
``TypeError`` for an argument of the wrong type. Silently falling back to a default would hide
the mistake (a negative queue size, a typo in ``SWISPER_STUDIO_ENABLED``, ``http://`` instead of
``redis://``). ``SWISPER_STUDIO_ENABLED`` accepts ``true/false/1/0/yes/no/on/off`` in any case;
the standard ``OTEL_SDK_DISABLED`` keeps OpenTelemetry's semantics (only ``true`` disables).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field, fields
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from swisper_studio.exporter import environment_variables as env

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

DEFAULT_REDIS_URL = "redis://localhost:6379/0"
DEFAULT_STREAM_NAME = "observability:events"
DEFAULT_PROJECT_ID = "default"
DEFAULT_MAX_STREAM_LENGTH = 100_000
DEFAULT_MAX_QUEUE_SIZE = 20_480
DEFAULT_MAX_BATCH_SIZE = 512
DEFAULT_SCHEDULE_DELAY_MILLIS = 200
DEFAULT_EXPORT_TIMEOUT_MILLIS = 5_000

REDIS_URL_SCHEMES = ("redis", "rediss", "unix")


def redact_url(url: str) -> str:
    """The URL with its password replaced by ``***``, for log lines and error messages."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        user = parts.username or ""
        host = parts.hostname or ""
        if parts.port is not None:
            host = f"{host}:{parts.port}"
        return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))
    except ValueError:
        return "<unparsable url>"


def _check_redis_url(url: str, source: str) -> str:
    scheme = url.partition("://")[0].lower() if "://" in url else ""
    if scheme not in REDIS_URL_SCHEMES:
        raise ValueError(
            f"{source} must be a redis://, rediss:// or unix:// URL, got {redact_url(url)!r}"
        )
    from redis.connection import parse_url

    try:
        parse_url(url)
    except ValueError as exc:  # e.g. a port that is not a number
        shown = redact_url(url)
        raise ValueError(f"{source} is not a valid Redis URL ({shown!r}): {exc}") from None
    return url


def _env(name: str) -> str | None:
    value = os.environ.get(name)
    if value is None or not value.strip():
        return None
    return value.strip()


TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off"})


def _env_flag(name: str, default: bool) -> bool:
    """A ``SWISPER_STUDIO_*`` switch: true/false/1/0/yes/no/on/off, else ``ValueError``."""
    raw = _env(name)
    if raw is None:
        return default
    lowered = raw.lower()
    if lowered in TRUE_WORDS:
        return True
    if lowered in FALSE_WORDS:
        return False
    raise ValueError(f"{name} must be one of true/false/1/0/yes/no/on/off (any case), got {raw!r}")


def _otel_sdk_disabled() -> bool:
    """``OTEL_SDK_DISABLED`` as the OpenTelemetry specification reads it: only ``true``."""
    raw = _env(env.OTEL_SDK_DISABLED)
    if raw is None:
        return False
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    logger.warning("Ignoring %s=%r: expected 'true' or 'false'", env.OTEL_SDK_DISABLED, raw)
    return False


def _env_positive_int(name: str, default: int) -> int:
    """A positive integer from the environment, else ``ValueError`` naming the variable."""
    raw = _env(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a positive integer, got {raw!r}") from None
    if value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {raw!r}")
    return value


def _arg_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{name} must be a positive integer, got {value}")
    return value


def _arg_str(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    return value


def _setting(env_var: str, default: Any) -> Any:
    return field(default=None, metadata={"env_var": env_var, "default": default})


@dataclass(frozen=True)
class ExporterConfig:
    """Settings of ``RedisStreamSpanProcessor`` and ``RedisStreamSpanExporter``.

    Every field left as ``None`` is read from its environment variable, else its default; after
    construction no field is ``None``. See ``docs/exporter.md`` for the table.
    """

    redis_url: str = _setting(env.SWISPER_STUDIO_REDIS_URL, DEFAULT_REDIS_URL)
    stream_name: str = _setting(env.SWISPER_STUDIO_STREAM_NAME, DEFAULT_STREAM_NAME)
    project_id: str = _setting(env.SWISPER_STUDIO_PROJECT_ID, DEFAULT_PROJECT_ID)
    max_stream_length: int = _setting(
        env.SWISPER_STUDIO_MAX_STREAM_LENGTH, DEFAULT_MAX_STREAM_LENGTH
    )
    max_queue_size: int = _setting(env.SWISPER_STUDIO_MAX_QUEUE_SIZE, DEFAULT_MAX_QUEUE_SIZE)
    max_batch_size: int = _setting(env.SWISPER_STUDIO_MAX_BATCH_SIZE, DEFAULT_MAX_BATCH_SIZE)
    schedule_delay_millis: int = _setting(
        env.SWISPER_STUDIO_SCHEDULE_DELAY_MILLIS, DEFAULT_SCHEDULE_DELAY_MILLIS
    )
    export_timeout_millis: int = _setting(
        env.SWISPER_STUDIO_EXPORT_TIMEOUT_MILLIS, DEFAULT_EXPORT_TIMEOUT_MILLIS
    )
    enabled: bool = _setting(env.SWISPER_STUDIO_ENABLED, True)

    def __post_init__(self) -> None:
        explicit = {f.name for f in fields(self) if getattr(self, f.name) is not None}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None:
                value = self._from_env(f.name, f.metadata["env_var"], f.metadata["default"])
            else:
                value = self._from_arg(f.name, value)
            object.__setattr__(self, f.name, value)
        self._check_batch_fits_queue(explicit)

    @staticmethod
    def _from_arg(name: str, value: Any) -> Any:
        if name == "enabled":
            if not isinstance(value, bool):
                raise TypeError(f"enabled must be a bool, got {type(value).__name__}")
            return value
        if name == "redis_url":
            return _check_redis_url(_arg_str(name, value), name)
        if name in ("stream_name", "project_id"):
            text = _arg_str(name, value)
            if name == "stream_name" and not text:
                raise ValueError("stream_name must not be empty")
            return text
        return _arg_positive_int(name, value)

    @staticmethod
    def _from_env(name: str, env_var: str, default: Any) -> Any:
        if name == "enabled":
            enabled = _env_flag(env_var, default)  # validated even when OTel disables
            return False if _otel_sdk_disabled() else enabled
        if name == "redis_url":
            raw = _env(env_var)
            return default if raw is None else _check_redis_url(raw, env_var)
        if name in ("stream_name", "project_id"):
            raw = _env(env_var)
            return default if raw is None else raw
        return _env_positive_int(env_var, default)

    def _check_batch_fits_queue(self, explicit: set[str]) -> None:
        """A batch cannot be larger than the queue: an error if both were asked for."""
        if self.max_batch_size <= self.max_queue_size:
            return
        if "max_batch_size" in explicit:
            raise ValueError(
                f"max_batch_size ({self.max_batch_size}) must not exceed "
                f"max_queue_size ({self.max_queue_size})"
            )
        if os.environ.get(env.SWISPER_STUDIO_MAX_BATCH_SIZE, "").strip():
            logger.warning(
                "%s (%d) exceeds the queue size (%d); using %d",
                env.SWISPER_STUDIO_MAX_BATCH_SIZE,
                self.max_batch_size,
                self.max_queue_size,
                self.max_queue_size,
            )
        object.__setattr__(self, "max_batch_size", self.max_queue_size)

    @property
    def timeout_s(self) -> float:
        """Connect/socket timeout of the Redis client, in seconds."""
        return self.export_timeout_millis / 1000.0

    @property
    def redacted_url(self) -> str:
        """``redis_url`` without its password, for log lines."""
        return redact_url(self.redis_url)

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{f.name}={self.redacted_url if f.name == 'redis_url' else getattr(self, f.name)!r}"
            for f in fields(self)
        )
        return f"ExporterConfig({shown})"


def resolve_config(config: ExporterConfig | None, settings: dict[str, Any]) -> ExporterConfig:
    """The ``config`` a component was handed, or one built from its keyword settings."""
    given = {name: value for name, value in settings.items() if value is not None}
    if config is None:
        return ExporterConfig(**given)
    if not isinstance(config, ExporterConfig):
        raise TypeError(f"config must be an ExporterConfig, got {type(config).__name__}")
    if given:
        raise TypeError(f"pass either config or keyword settings, not both: {sorted(given)}")
    return config
