"""Payload capture: JSON-safe encoding, a per-attribute byte cap and redaction.

Graph states, messages, pydantic models, dataclasses and arbitrary objects become JSON text for
``input.value`` / ``output.value``. Encoding never raises: anything unknown falls back to its
``repr``. The walk carries a byte budget, so a 1 MB state costs about as much as a state just
over the cap (the work is bounded by the cap, not by the state). Every mapping key passes the
redaction hook, which by default masks the values of keys that look like secrets.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import logging
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import orjson

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

DEFAULT_MAX_PAYLOAD_BYTES = 32 * 1024
"""Default cap for one payload attribute, in bytes of UTF-8 JSON text."""

REDACTED = "[REDACTED]"
TRUNCATION_MARKER = "...[truncated]"
_MAX_DEPTH = 24
_ELLIPSIS = "..."

Redactor = Callable[[str, Any], Any]
"""``redact(key, value) -> value to record``; called for every mapping key in a payload."""

_SECRET_KEYS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "secret",
        "token",
        "api_key",
        "apikey",
        "authorization",
        "proxy_authorization",
        "cookie",
        "set_cookie",
        "credential",
        "credentials",
        "private_key",
        "client_secret",
        "access_key",
        "secret_key",
    }
)
_SECRET_SUFFIXES = (
    "_password",
    "_passwd",
    "_secret",
    "_token",
    "_api_key",
    "_apikey",
    "_private_key",
    "_access_key",
    "_secret_key",
    "_credentials",
    "_cookie",
)


_secret_cache: dict[str, bool] = {}
_SECRET_CACHE_MAX = 4096


def is_secret_key(key: str) -> bool:
    """True for keys such as ``password``, ``OPENAI_API_KEY``, ``access-token``, ``Cookie``.

    Counters such as ``input_tokens`` or ``max_tokens`` are not secrets and stay visible.
    State keys repeat on every node, so answers are cached (bounded).
    """
    hit = _secret_cache.get(key)
    if hit is not None:
        return hit
    norm = key.lower().replace("-", "_")
    secret = norm in _SECRET_KEYS or norm.endswith(_SECRET_SUFFIXES)
    if len(_secret_cache) < _SECRET_CACHE_MAX:
        _secret_cache[key] = secret
    return secret


def default_redact(key: str, value: Any) -> Any:
    """The default redaction hook: mask the value of any secret-looking key."""
    return REDACTED if is_secret_key(key) else value


class PayloadEncoder:
    """Turns payloads into bounded, redacted JSON text. One instance per instrumentation.

    Args:
        max_bytes: cap per attribute (UTF-8 bytes of JSON); longer text is cut and marked.
        redact: ``redact(key, value) -> value`` applied to every mapping key; ``None`` disables.
    """

    __slots__ = ("max_bytes", "redact")

    def __init__(
        self,
        max_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        redact: Redactor | None = default_redact,
    ) -> None:
        if not isinstance(max_bytes, int) or isinstance(max_bytes, bool) or max_bytes < 64:
            raise ValueError(f"max_payload_bytes must be an int >= 64, got {max_bytes!r}")
        if redact is not None and not callable(redact):
            raise TypeError("redact must be a callable (key, value) -> value, or None")
        self.max_bytes = max_bytes
        self.redact = redact

    def encode(self, value: Any) -> tuple[str, bool]:
        """Return ``(json_text, truncated)``. Never raises."""
        fast = self._fast(value)
        if fast is not None:
            return fast, False
        try:
            walker = _Walker(self.max_bytes, self.redact)
            safe = walker.walk(value, 0)
            raw = orjson.dumps(safe, option=orjson.OPT_NON_STR_KEYS)
        except Exception:
            logger.debug("payload encoding failed; recording a repr instead", exc_info=True)
            raw = orjson.dumps(_safe_repr(value, self.max_bytes))
            walker = None
        truncated = walker is not None and walker.truncated
        if len(raw) > self.max_bytes:
            raw = raw[: self.max_bytes]
            truncated = True
        text = raw.decode("utf-8", errors="ignore")
        if truncated:
            text += TRUNCATION_MARKER
        return text, truncated

    def _fast(self, value: Any) -> str | None:
        """Flat dicts / short lists of short scalars (most LangGraph states and node updates)
        go straight to orjson; anything else, or a secret-looking key, takes the full walk.
        Scalars are checked inline: this runs twice per node span."""
        redact = self.redact
        if redact is not None and redact is not default_redact:
            return None
        budget = self.max_bytes
        try:
            if type(value) is dict:
                cache_get = _secret_cache.get
                for key, item in value.items():
                    if type(key) is not str:
                        return None
                    if redact is not None:
                        secret = cache_get(key)
                        if secret is None:
                            secret = is_secret_key(key)
                        if secret:
                            return None
                    icls = type(item)
                    if icls is str:
                        budget -= len(item) + 2
                    elif icls in _SCALARS:
                        budget -= 8
                    else:
                        budget = _flat_budget(item, budget)
                    if budget < 0:
                        return None
            elif _flat_budget(value, budget) < 0:
                return None
            raw = orjson.dumps(value)
        except Exception:
            return None
        if len(raw) > self.max_bytes:
            return None
        return raw.decode("utf-8")

    def jsonable(self, value: Any) -> Any:
        """The redacted, JSON-safe form of ``value`` (for attributes built from dicts)."""
        try:
            return _Walker(self.max_bytes, self.redact).walk(value, 0)
        except Exception:
            return _safe_repr(value, self.max_bytes)


_SCALARS = frozenset({int, float, bool, type(None)})
_MAX_FAST_LIST = 64


def _flat_budget(value: Any, budget: int) -> int:
    """Remaining budget after a scalar, short string or short list of those; -1 otherwise."""
    cls = type(value)
    if cls is str:
        return budget - len(value) - 2
    if cls in _SCALARS:
        return budget - 8
    if cls is list and len(value) <= _MAX_FAST_LIST:
        for item in value:
            item_cls = type(item)
            if item_cls is str:
                budget -= len(item) + 3
            elif item_cls in _SCALARS:
                budget -= 9
            else:
                return -1
        return budget
    return -1


class _Walker:
    """One bounded walk: converts to JSON-safe values until the byte budget is spent."""

    __slots__ = ("budget", "redact", "truncated")

    def __init__(self, budget: int, redact: Redactor | None) -> None:
        self.budget = budget
        self.redact = redact
        self.truncated = False

    def walk(self, value: Any, depth: int) -> Any:
        if value is None or value is True or value is False:
            self.budget -= 5
            return value
        cls = type(value)
        if cls is str:
            return self._string(value)
        if cls is int or cls is float:
            self.budget -= 8
            return value
        if self.budget <= 0 or depth > _MAX_DEPTH:
            self.truncated = True
            return _ELLIPSIS
        if cls is dict:
            return self._mapping(value, depth)
        if cls is list or cls is tuple:
            return self._sequence(value, depth)
        fields = _message_fields(value)  # message histories dominate agent states
        if fields is not None:
            return self._mapping(fields, depth, trusted=True)
        if isinstance(value, Mapping):
            return self._mapping(value, depth)
        if isinstance(value, (list, tuple, set, frozenset, deque)):
            return self._sequence(value, depth)
        return self._other(value, depth)

    def _string(self, value: str) -> str:
        budget = self.budget
        self.budget = budget - len(value) - 2
        if len(value) > budget:
            self.truncated = True
            return value[: max(budget, 0)]
        return value

    def _mapping(
        self, value: Mapping[Any, Any], depth: int, trusted: bool = False
    ) -> dict[str, Any]:
        """``trusted``: keys are our own field names (a message's), not user data: no redact
        call for them (their values are still walked, and redacted below). Scalars are
        handled inline: this loop is the hot path for message-heavy states."""
        out: dict[str, Any] = {}
        redact = None if trusted else self.redact
        default = redact is default_redact
        cache_get = _secret_cache.get
        for key, item in value.items():
            budget = self.budget
            if budget <= 0:
                self.truncated = True
                out[_ELLIPSIS] = _ELLIPSIS
                break
            skey = key if type(key) is str else str(key)
            budget -= len(skey) + 4
            if default:
                secret = cache_get(skey)
                if secret is None:
                    secret = is_secret_key(skey)
                if secret:
                    self.budget = budget - 12
                    out[skey] = REDACTED
                    continue
            elif redact is not None:
                item = _apply_redact(redact, skey, item)
            icls = type(item)
            if icls is str and len(item) < budget:
                self.budget = budget - len(item) - 2
                out[skey] = item
            elif item is None or icls is int or icls is float or icls is bool:
                self.budget = budget - 8
                out[skey] = item
            else:
                self.budget = budget
                out[skey] = self.walk(item, depth + 1)
        return out

    def _sequence(self, value: Any, depth: int) -> list[Any]:
        out: list[Any] = []
        append = out.append
        for item in value:
            budget = self.budget
            if budget <= 0:
                self.truncated = True
                append(_ELLIPSIS)
                break
            icls = type(item)
            if icls is str and len(item) < budget:
                self.budget = budget - len(item) - 3
                append(item)
            else:
                self.budget = budget - 1
                append(self.walk(item, depth + 1))
        return out

    def _other(self, value: Any, depth: int) -> Any:
        if isinstance(value, (bool, int, float)):
            self.budget -= 8
            return value if not isinstance(value, enum.Enum) else value.value
        if isinstance(value, enum.Enum):
            return self.walk(value.value, depth + 1)
        if isinstance(value, str):
            return self._string(str(value))
        if isinstance(value, (datetime.datetime, datetime.date, datetime.time)):
            return self._string(value.isoformat())
        if isinstance(value, (uuid.UUID, Decimal)):
            return self._string(str(value))
        if isinstance(value, (bytes, bytearray, memoryview)):
            return self._string(f"<{len(value)} bytes>")
        fields = _model_fields(value)
        if fields is not None:
            return self._mapping(fields, depth)
        return self._string(_safe_repr(value, max(self.budget, 0) + 1))


def _apply_redact(redact: Redactor, key: str, value: Any) -> Any:
    try:
        return redact(key, value)
    except Exception:
        logger.warning("redaction hook failed for key %r; value masked", key, exc_info=True)
        return REDACTED


_MESSAGE_EXTRAS = ("name", "id", "tool_calls", "tool_call_id", "usage_metadata", "status")


def _message_fields(value: Any) -> dict[str, Any] | None:
    """LangChain messages: the fields a reader needs, not the full pydantic dump. Read from the
    instance ``__dict__``: a pydantic ``getattr`` miss (``status`` on an AIMessage) is slow."""
    fields = getattr(value, "__dict__", None)
    if not fields or "additional_kwargs" not in fields or "content" not in fields:
        return None
    msg_type = fields.get("type")
    if not isinstance(msg_type, str):
        return None
    out: dict[str, Any] = {"type": msg_type, "content": fields["content"]}
    for name in _MESSAGE_EXTRAS:
        item = fields.get(name)
        if item:
            out[name] = item
    return out


def _model_fields(value: Any) -> dict[str, Any] | None:
    """Pydantic v2/v1 models, dataclasses, namedtuples, ``__slots__`` objects such as ``Send``."""
    dump = getattr(value, "model_dump", None)
    if callable(dump) and not isinstance(value, type):
        return dump()
    legacy = getattr(value, "dict", None)
    if callable(legacy) and hasattr(value, "__fields__") and not isinstance(value, type):
        return legacy()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name, None) for f in dataclasses.fields(value)}
    asdict = getattr(value, "_asdict", None)
    if callable(asdict):
        return asdict()
    return None


def _safe_repr(value: Any, limit: int) -> str:
    try:
        text = repr(value)
    except Exception:
        return f"<unrepresentable {type(value).__name__}>"
    return text if len(text) <= limit else text[:limit]
