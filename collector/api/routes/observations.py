"""``/api/v1/observations``: spans across traces, and one span."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from swisper_studio.collector.api import queries
from swisper_studio.collector.api.aliases import AliasRoute, described
from swisper_studio.collector.api.deps import Conn, ProjectId
from swisper_studio.collector.api.errors import NOT_FOUND_RESPONSE, ApiError
from swisper_studio.collector.api.pagination import decode_cursor
from swisper_studio.collector.api.params import (
    Cursor,
    FromTime,
    Limit,
    SortOrder,
    ToTime,
    check_time_range,
)
from swisper_studio.collector.api.schemas import (
    OBSERVATION_ID_PATTERN,
    TRACE_ID_PATTERN,
    FilterText,
    Level,
    Observation,
    ObservationType,
    Page,
)

router = APIRouter(prefix="/api/v1/observations", tags=["observations"], route_class=AliasRoute)

TraceIdQuery = Annotated[
    str | None,
    Query(
        pattern=TRACE_ID_PATTERN,
        description=described("trace_id", "Only this trace (32 hex digits)."),
    ),
]


@router.get(
    "",
    response_model=Page[Observation],
    summary="List observations",
    description="Observations (spans) of the key's project, newest first by default, "
    "with their payloads. Keyset pagination: pass `next_cursor` back as `cursor`.",
)
async def list_observations(
    conn: Conn,
    project_id: ProjectId,
    trace_id: TraceIdQuery = None,
    type: Annotated[
        ObservationType | None, Query(description="Observation type (any case).")
    ] = None,
    name: Annotated[FilterText | None, Query(description="Exact observation name.")] = None,
    level: Annotated[Level | None, Query(description="Exact level (any case).")] = None,
    model: Annotated[FilterText | None, Query(description="Exact model name.")] = None,
    from_time: FromTime = None,
    to_time: ToTime = None,
    order: SortOrder = "desc",
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[Observation]:
    check_time_range(from_time, to_time)
    filters = queries.ObservationFilters(
        trace_id=trace_id.lower() if trace_id else None,
        type=type,
        name=name,
        level=level,
        model=model,
        from_time=from_time,
        to_time=to_time,
    )
    rows, next_cursor = await queries.list_observations(
        conn,
        project_id,
        filters,
        limit=limit,
        order=order,
        cursor=decode_cursor(cursor, "observations", order, 2),
    )
    return Page[Observation](data=rows, next_cursor=next_cursor)


@router.get(
    "/{observation_id}",
    response_model=Observation,
    responses=NOT_FOUND_RESPONSE,
    summary="Get one observation",
    description="One span by its 16-hex span id. Span ids are unique per trace; pass "
    "`trace_id` to be exact (without it the latest span with this id is returned).",
)
async def get_observation(
    conn: Conn,
    project_id: ProjectId,
    observation_id: Annotated[
        str, Path(pattern=OBSERVATION_ID_PATTERN, description="OTel span id: 16 hex digits.")
    ],
    trace_id: TraceIdQuery = None,
) -> Observation:
    observation_id = observation_id.lower()
    row = await queries.get_observation(
        conn, project_id, observation_id, trace_id.lower() if trace_id else None
    )
    if row is None:
        raise ApiError(404, "not_found", f"observation {observation_id} not found")
    return Observation(**row)
