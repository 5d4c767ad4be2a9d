"""``/api/v1/traces``: the trace list and one trace with its span tree."""

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
    TRACE_ID_PATTERN,
    FilterText,
    Level,
    Page,
    TraceDetail,
    TraceSummary,
)
from swisper_studio.collector.api.tree import build_tree

router = APIRouter(prefix="/api/v1/traces", tags=["traces"], route_class=AliasRoute)

TraceIdPath = Annotated[
    str,
    Path(
        description="OTel trace id: 32 hex digits.",
        pattern=TRACE_ID_PATTERN,
        examples=["4bf92f3577b34da6a3ce929d0e0e4736"],
    ),
]


@router.get(
    "",
    response_model=Page[TraceSummary],
    summary="List traces",
    description="Traces of the key's project, newest first (or oldest first with "
    "`order=asc`), with per-trace duration, observation count, tokens and level. "
    "Keyset pagination: pass `next_cursor` back as `cursor`.",
)
async def list_traces(
    conn: Conn,
    project_id: ProjectId,
    session_id: Annotated[
        FilterText | None, Query(description=described("session_id", "Exact session id."))
    ] = None,
    user_id: Annotated[
        FilterText | None, Query(description=described("user_id", "Exact user id."))
    ] = None,
    name: Annotated[FilterText | None, Query(description="Exact trace (root span) name.")] = None,
    level: Annotated[Level | None, Query(description="Exact trace level (any case).")] = None,
    tag: Annotated[
        list[FilterText] | None,
        Query(
            description=described(
                "tag",
                "Traces carrying this tag; repeat (or comma-separate) for all of several.",
            ),
            max_length=20,
        ),
    ] = None,
    from_time: FromTime = None,
    to_time: ToTime = None,
    q: Annotated[
        FilterText | None,
        Query(description=described("q", "Case-insensitive substring of the trace name.")),
    ] = None,
    order: SortOrder = "desc",
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[TraceSummary]:
    check_time_range(from_time, to_time)
    filters = queries.TraceFilters(
        session_id=session_id,
        user_id=user_id,
        name=name,
        level=level,
        tags=tag or [],
        from_time=from_time,
        to_time=to_time,
        q=q,
    )
    rows, next_cursor = await queries.list_traces(
        conn,
        project_id,
        filters,
        limit=limit,
        order=order,
        cursor=decode_cursor(cursor, "traces", order, 1),
    )
    return Page[TraceSummary](data=rows, next_cursor=next_cursor)


@router.get(
    "/{trace_id}",
    response_model=TraceDetail,
    responses=NOT_FOUND_RESPONSE,
    summary="Get one trace with its observations",
    description="The trace and all its observations, flat (parents before children, in start "
    "order, with parent ids) and as a tree. Running spans have `running: true`. Another "
    "project's trace answers 404, exactly like a missing one.",
)
async def get_trace(conn: Conn, project_id: ProjectId, trace_id: TraceIdPath) -> TraceDetail:
    trace_id = trace_id.lower()
    trace = await queries.get_trace(conn, project_id, trace_id)
    if trace is None:
        raise ApiError(404, "not_found", f"trace {trace_id} not found")
    flat, tree = build_tree(await queries.trace_observations(conn, project_id, trace_id))
    return TraceDetail(**trace, observations=flat, tree=tree)
