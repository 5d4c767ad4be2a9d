"""Opaque keyset cursors: base64url of a small JSON list ``[kind, order, time, *ids]``.

A cursor names the last row of a page, so the next page starts strictly after it: rows that
arrive meanwhile never shift a page (no duplicates, no gaps), unlike offsets.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import datetime

import orjson
from swisper_studio.collector.api.errors import ApiError

MAX_CURSOR_LENGTH = 1000
_CURSOR_CHARS = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class Cursor:
    kind: str
    order: str
    time: datetime
    ids: tuple[str, ...]


def encode_cursor(kind: str, order: str, time: datetime, *ids: str) -> str:
    raw = orjson.dumps([kind, order, time.isoformat(), *ids])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(value: str | None, kind: str, order: str, n_ids: int) -> Cursor | None:
    """Parse a cursor made by ``encode_cursor``; ``ApiError`` 400 if it is not one of ours."""
    if not value:  # absent, or sent empty for the first page
        return None
    try:
        if len(value) > MAX_CURSOR_LENGTH or not _CURSOR_CHARS.fullmatch(value):
            raise ValueError("not a cursor of ours")
        raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
        items = orjson.loads(raw)
        if (
            not isinstance(items, list)
            or len(items) != 3 + n_ids
            or not all(isinstance(item, str) for item in items)
        ):
            raise ValueError("wrong shape")
        c_kind, c_order, c_time, *ids = items
        time = datetime.fromisoformat(c_time)
        if time.tzinfo is None or any("\x00" in i or len(i) > 500 for i in ids):
            raise ValueError("bad values")
    except (ValueError, binascii.Error, orjson.JSONDecodeError, UnicodeError) as exc:
        raise ApiError(
            400, "invalid_cursor", "cursor is malformed: use next_cursor as given"
        ) from exc
    if c_kind != kind:
        raise ApiError(400, "invalid_cursor", f"cursor belongs to another list ({c_kind})")
    if c_order != order:
        raise ApiError(
            400, "invalid_cursor", f"cursor was made for order={c_order}, not order={order}"
        )
    return Cursor(kind=c_kind, order=c_order, time=time, ids=tuple(ids))
