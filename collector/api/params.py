"""Query parameters shared by the list endpoints (time range, order, limit, cursor)."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated

from fastapi import Query
from pydantic import AfterValidator
from swisper_studio.collector.api.aliases import described
from swisper_studio.collector.api.errors import ApiError
from swisper_studio.collector.api.schemas import Order


def _aware(value: datetime | None) -> datetime | None:
    """A time without offset is UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


FromTime = Annotated[
    datetime | None,
    AfterValidator(_aware),
    Query(
        alias="from",
        description=described(
            "from", "Start time at or after this instant (ISO 8601; UTC when no offset)."
        ),
        examples=["2026-01-31T00:00:00Z"],
    ),
]
ToTime = Annotated[
    datetime | None,
    AfterValidator(_aware),
    Query(
        alias="to",
        description=described(
            "to", "Start time before this instant (ISO 8601; UTC when no offset)."
        ),
        examples=["2026-02-01T00:00:00Z"],
    ),
]
SortOrder = Annotated[
    Order,
    Query(
        description=described(
            "order",
            "`desc`: newest first (default); `asc`: oldest first. Also spelt "
            "`timestamp.desc`/`timestamp.asc`, `start_time.desc`/`start_time.asc`, "
            "`-start_time` (desc) and `start_time` (asc), case-insensitive.",
        )
    ),
]
Limit = Annotated[int, Query(ge=1, le=1000, description=described("limit", "Page size, 1-1000."))]
Cursor = Annotated[
    str | None,
    Query(
        description="Opaque cursor from the previous page's `next_cursor` "
        "(anything else answers 400).",
    ),
]


def check_time_range(from_time: datetime | None, to_time: datetime | None) -> None:
    if from_time is not None and to_time is not None and from_time > to_time:
        raise ApiError(
            422,
            "invalid_time_range",
            "'from' must not be after 'to'",
            details=[{"loc": ["query", "from"], "msg": "after 'to'", "type": "time_range"}],
        )
