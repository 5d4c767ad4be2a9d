"""``/api/v1/sessions``: sessions (LangGraph threads) and their traces in order."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from pydantic import AfterValidator
from swisper_studio.collector.api import queries
from swisper_studio.collector.api.aliases import AliasRoute, described
from swisper_studio.collector.api.deps import Conn, ProjectId
from swisper_studio.collector.api.errors import NOT_FOUND_RESPONSE, ApiError
from swisper_studio.collector.api.pagination import decode_cursor
from swisper_studio.collector.api.params import Cursor, FromTime, Limit, ToTime, check_time_range
from swisper_studio.collector.api.schemas import (
    FilterText,
    Page,
    SessionDetail,
    SessionSummary,
    no_nul,
)

router = APIRouter(prefix="/api/v1/sessions", tags=["sessions"], route_class=AliasRoute)


@router.get(
    "",
    response_model=Page[SessionSummary],
    summary="List sessions",
    description="Sessions of the key's project by latest activity, newest first, with trace "
    "count, first and last trace time and users. `from`/`to` select sessions active in "
    "that range.",
)
async def list_sessions(
    conn: Conn,
    project_id: ProjectId,
    user_id: Annotated[
        FilterText | None,
        Query(description=described("user_id", "Sessions with a trace of this user.")),
    ] = None,
    q: Annotated[
        FilterText | None,
        Query(description=described("q", "Case-insensitive substring of the session id.")),
    ] = None,
    from_time: FromTime = None,
    to_time: ToTime = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[SessionSummary]:
    check_time_range(from_time, to_time)
    filters = queries.SessionFilters(user_id=user_id, from_time=from_time, to_time=to_time, q=q)
    rows, next_cursor = await queries.list_sessions(
        conn, project_id, filters, limit=limit, cursor=decode_cursor(cursor, "sessions", "desc", 1)
    )
    return Page[SessionSummary](data=rows, next_cursor=next_cursor)


@router.get(
    "/{session_id}",
    response_model=SessionDetail,
    responses=NOT_FOUND_RESPONSE,
    summary="Get one session with its traces",
    description="The session's summary and its traces in start order (oldest first), paged.",
)
async def get_session(
    conn: Conn,
    project_id: ProjectId,
    session_id: Annotated[
        str,
        Path(min_length=1, max_length=500, description="Session id (e.g. a LangGraph thread id)."),
        AfterValidator(no_nul),
    ],
    limit: Annotated[
        int, Query(ge=1, le=1000, description=described("limit", "Traces per page, 1-1000."))
    ] = 100,
    cursor: Cursor = None,
) -> SessionDetail:
    summary = await queries.get_session(conn, project_id, session_id)
    if summary is None:
        raise ApiError(404, "not_found", f"session {session_id!r} not found")
    traces, next_cursor = await queries.list_traces(
        conn,
        project_id,
        queries.TraceFilters(session_id=session_id),
        limit=limit,
        order="asc",
        cursor=decode_cursor(cursor, "traces", "asc", 1),
    )
    return SessionDetail(**summary, traces=traces, next_cursor=next_cursor)
