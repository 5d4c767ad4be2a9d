"""The Studio API's SQL: every value is a bound parameter, every statement is project-scoped.

Statements are composed with ``psycopg.sql`` from fixed fragments written here; user input
only ever travels as parameters. Lists use keyset pagination on ``(start_time, id)`` and fetch
``limit + 1`` rows to know whether there is a next page; per-row aggregates of a page are
computed for that page only (a LATERAL join over the page), never for the whole table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import dict_row
from swisper_studio.collector.api.pagination import Cursor, encode_cursor

_DIRECTION = {"desc": sql.SQL("DESC"), "asc": sql.SQL("ASC")}
_AFTER = {"desc": sql.SQL("<"), "asc": sql.SQL(">")}

# A span's total: as reported, else input + output (either may be missing), else null.
OBSERVATION_TOTAL_TOKENS = """coalesce(o.total_tokens,
    CASE WHEN o.input_tokens IS NOT NULL OR o.output_tokens IS NOT NULL
         THEN coalesce(o.input_tokens, 0) + coalesce(o.output_tokens, 0) END)"""

TRACE_COLUMNS = """
    t.id, t.project_id, t.name, t.user_id, t.session_id, t.start_time, t.end_time,
    (EXTRACT(EPOCH FROM (t.end_time - t.start_time)) * 1000)::float8 AS duration_ms,
    t.level, t.status, t.status_message, t.tags, t.service_name
"""

TRACE_DETAIL_COLUMNS = """,
    t.input, t.output, t.metadata, t.root_observation_id, t.updated_at
"""

TRACE_AGGREGATES = f"""
    SELECT count(*)::int AS observation_count,
           count(*) FILTER (WHERE NOT o.has_end)::int AS running_count,
           count(*) FILTER (WHERE o.level = 'ERROR')::int AS error_count,
           coalesce(sum(o.input_tokens), 0)::bigint AS input_tokens,
           coalesce(sum(o.output_tokens), 0)::bigint AS output_tokens,
           coalesce(sum({OBSERVATION_TOTAL_TOKENS}), 0)::bigint AS total_tokens
    FROM observations o
    WHERE o.trace_id = page.id AND o.project_id = page.project_id
"""

OBSERVATION_COLUMNS = f"""
    o.id, o.trace_id, o.parent_observation_id, o.type, o.name, o.kind, o.start_time,
    o.end_time, o.completion_start_time,
    (EXTRACT(EPOCH FROM (o.end_time - o.start_time)) * 1000)::float8 AS duration_ms,
    o.level, o.status_code, o.status_message, o.input, o.output, o.metadata, o.model,
    o.model_parameters, o.usage, o.input_tokens, o.output_tokens,
    {OBSERVATION_TOTAL_TOKENS} AS total_tokens,
    o.langgraph_node, o.langgraph_step, o.events, NOT o.has_end AS running
"""


def like_pattern(text: str) -> str:
    """``%text%`` for ILIKE with the user's ``%``, ``_`` and ``\\`` taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class _Where:
    """Conjunction of fixed SQL fragments and their bound parameters."""

    def __init__(self) -> None:
        self.parts: list[sql.Composable] = []
        self.params: list[Any] = []

    def add(self, fragment: str, *params: Any) -> None:
        self.parts.append(sql.SQL(fragment))
        self.params.extend(params)

    def compose(self) -> sql.Composable:
        return sql.SQL(" AND ").join(self.parts) if self.parts else sql.SQL("true")


@dataclass(frozen=True)
class TraceFilters:
    session_id: str | None = None
    user_id: str | None = None
    name: str | None = None
    level: str | None = None
    tags: list[str] = field(default_factory=list)
    from_time: datetime | None = None
    to_time: datetime | None = None
    q: str | None = None


@dataclass(frozen=True)
class ObservationFilters:
    trace_id: str | None = None
    type: str | None = None
    name: str | None = None
    level: str | None = None
    model: str | None = None
    from_time: datetime | None = None
    to_time: datetime | None = None


@dataclass(frozen=True)
class SessionFilters:
    user_id: str | None = None
    from_time: datetime | None = None
    to_time: datetime | None = None
    q: str | None = None


def _finish_trace(row: dict[str, Any]) -> dict[str, Any]:
    row["running"] = row["status"] == "RUNNING" or bool(row.pop("running_count", 0))
    if row["status"] == "RUNNING":
        row["duration_ms"] = None  # end_time is only the latest end seen so far
    duration_ms = row["duration_ms"]
    row["latency"] = None if duration_ms is None else duration_ms / 1000
    return row


async def list_traces(
    conn: psycopg.AsyncConnection,
    project_id: str,
    filters: TraceFilters,
    *,
    limit: int,
    order: str = "desc",
    cursor: Cursor | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """One page of traces and the cursor of the next page (None on the last page)."""
    where = _Where()
    where.add("t.project_id = %s", project_id)
    if filters.session_id is not None:
        where.add("t.session_id = %s", filters.session_id)
    if filters.user_id is not None:
        where.add("t.user_id = %s", filters.user_id)
    if filters.name is not None:
        where.add("t.name = %s", filters.name)
    if filters.level is not None:
        where.add("t.level = %s", filters.level)
    if filters.tags:
        where.add("t.tags @> %s::text[]", list(filters.tags))
    if filters.from_time is not None:
        where.add("t.start_time >= %s", filters.from_time)
    if filters.to_time is not None:
        where.add("t.start_time < %s", filters.to_time)
    if filters.q is not None:
        where.add("t.name ILIKE %s", like_pattern(filters.q))
    if cursor is not None:
        where.parts.append(sql.SQL("(t.start_time, t.id) {} (%s, %s)").format(_AFTER[order]))
        where.params.extend([cursor.time, cursor.ids[0]])
    direction = _DIRECTION[order]
    query = sql.SQL(
        "WITH page AS (SELECT {cols} FROM traces t WHERE {where}"
        " ORDER BY t.start_time {dir}, t.id {dir} LIMIT %s)"
        " SELECT page.*, a.* FROM page LEFT JOIN LATERAL ({agg}) a ON true"
        " ORDER BY page.start_time {dir}, page.id {dir}"
    ).format(
        cols=sql.SQL(TRACE_COLUMNS),
        where=where.compose(),
        dir=direction,
        agg=sql.SQL(TRACE_AGGREGATES),
    )
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, [*where.params, limit + 1])
        rows = await cur.fetchall()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_cursor("traces", order, last["start_time"], last["id"])
    return [_finish_trace(row) for row in rows], next_cursor


async def get_trace(
    conn: psycopg.AsyncConnection, project_id: str, trace_id: str
) -> dict[str, Any] | None:
    """The trace row with its aggregates, or None (missing or another project's)."""
    query = sql.SQL(
        "WITH page AS (SELECT {cols}{detail} FROM traces t WHERE t.id = %s AND t.project_id = %s)"
        " SELECT page.*, a.* FROM page LEFT JOIN LATERAL ({agg}) a ON true"
    ).format(
        cols=sql.SQL(TRACE_COLUMNS),
        detail=sql.SQL(TRACE_DETAIL_COLUMNS),
        agg=sql.SQL(TRACE_AGGREGATES),
    )
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, (trace_id, project_id))
        row = await cur.fetchone()
    return _finish_trace(row) if row else None


async def trace_observations(
    conn: psycopg.AsyncConnection, project_id: str, trace_id: str
) -> list[dict[str, Any]]:
    """All observations of a trace in start order."""
    query = sql.SQL(
        "SELECT {cols} FROM observations o WHERE o.trace_id = %s AND o.project_id = %s"
        " ORDER BY o.start_time, o.id"
    ).format(cols=sql.SQL(OBSERVATION_COLUMNS))
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, (trace_id, project_id))
        return await cur.fetchall()


async def list_observations(
    conn: psycopg.AsyncConnection,
    project_id: str,
    filters: ObservationFilters,
    *,
    limit: int,
    order: str = "desc",
    cursor: Cursor | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    where = _Where()
    where.add("o.project_id = %s", project_id)
    if filters.trace_id is not None:
        where.add("o.trace_id = %s", filters.trace_id)
    if filters.type is not None:
        where.add("o.type = %s", filters.type)
    if filters.name is not None:
        where.add("o.name = %s", filters.name)
    if filters.level is not None:
        where.add("o.level = %s", filters.level)
    if filters.model is not None:
        where.add("o.model = %s", filters.model)
    if filters.from_time is not None:
        where.add("o.start_time >= %s", filters.from_time)
    if filters.to_time is not None:
        where.add("o.start_time < %s", filters.to_time)
    if cursor is not None:
        where.parts.append(
            sql.SQL("(o.start_time, o.trace_id, o.id) {} (%s, %s, %s)").format(_AFTER[order])
        )
        where.params.extend([cursor.time, *cursor.ids])
    direction = _DIRECTION[order]
    query = sql.SQL(
        "SELECT {cols} FROM observations o WHERE {where}"
        " ORDER BY o.start_time {dir}, o.trace_id {dir}, o.id {dir} LIMIT %s"
    ).format(cols=sql.SQL(OBSERVATION_COLUMNS), where=where.compose(), dir=direction)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, [*where.params, limit + 1])
        rows = await cur.fetchall()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_cursor(
            "observations", order, last["start_time"], last["trace_id"], last["id"]
        )
    return rows, next_cursor


async def get_observation(
    conn: psycopg.AsyncConnection, project_id: str, observation_id: str, trace_id: str | None
) -> dict[str, Any] | None:
    where = _Where()
    where.add("o.project_id = %s", project_id)
    where.add("o.id = %s", observation_id)
    if trace_id is not None:
        where.add("o.trace_id = %s", trace_id)
    query = sql.SQL(
        "SELECT {cols} FROM observations o WHERE {where} ORDER BY o.start_time DESC LIMIT 1"
    ).format(cols=sql.SQL(OBSERVATION_COLUMNS), where=where.compose())
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, where.params)
        return await cur.fetchone()


SESSION_SELECT = """
    SELECT t.session_id,
           count(*)::int AS trace_count,
           min(t.start_time) AS first_trace_at,
           max(t.start_time) AS last_trace_at,
           coalesce(array_agg(DISTINCT t.user_id) FILTER (WHERE t.user_id IS NOT NULL), '{}')
               AS user_ids,
           count(*) FILTER (WHERE t.level = 'ERROR')::int AS error_count
    FROM traces t
"""


async def list_sessions(
    conn: psycopg.AsyncConnection,
    project_id: str,
    filters: SessionFilters,
    *,
    limit: int,
    cursor: Cursor | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Sessions by latest activity (newest first)."""
    where = _Where()
    where.add("t.project_id = %s", project_id)
    where.add("t.session_id IS NOT NULL")
    if filters.q is not None:
        where.add("t.session_id ILIKE %s", like_pattern(filters.q))
    having = _Where()
    if filters.user_id is not None:
        having.add("bool_or(t.user_id = %s)", filters.user_id)
    if filters.from_time is not None:
        having.add("max(t.start_time) >= %s", filters.from_time)
    if filters.to_time is not None:
        having.add("min(t.start_time) < %s", filters.to_time)
    if cursor is not None:
        having.add("(max(t.start_time), t.session_id) < (%s, %s)", cursor.time, cursor.ids[0])
    # Two steps: pick the page's sessions with a cheap aggregate (max start per session, which
    # an index-only scan of the session index streams), then summarise only those sessions.
    query = sql.SQL(
        "WITH page AS (SELECT t.session_id, max(t.start_time) AS last_start FROM traces t"
        " WHERE {where} GROUP BY t.session_id HAVING {having}"
        " ORDER BY last_start DESC, t.session_id DESC LIMIT %s)"
        " {select} JOIN page ON page.session_id = t.session_id WHERE t.project_id = %s"
        " GROUP BY t.session_id ORDER BY last_trace_at DESC, t.session_id DESC"
    ).format(select=sql.SQL(SESSION_SELECT), where=where.compose(), having=having.compose())
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, [*where.params, *having.params, limit + 1, project_id])
        rows = await cur.fetchall()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        next_cursor = encode_cursor("sessions", "desc", last["last_trace_at"], last["session_id"])
    return rows, next_cursor


async def get_session(
    conn: psycopg.AsyncConnection, project_id: str, session_id: str
) -> dict[str, Any] | None:
    query = sql.SQL(
        "{select} WHERE t.project_id = %s AND t.session_id = %s GROUP BY t.session_id"
    ).format(select=sql.SQL(SESSION_SELECT))
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, (project_id, session_id))
        return await cur.fetchone()


async def project_counts(conn: psycopg.AsyncConnection, project_id: str) -> dict[str, Any]:
    """Row counts of one project for the metrics endpoint."""
    query = """
        SELECT
          (SELECT count(*) FROM traces WHERE project_id = %(p)s)::bigint AS traces_total,
          (SELECT count(*) FROM observations WHERE project_id = %(p)s)::bigint
              AS observations_total,
          (SELECT count(*) FROM observations WHERE project_id = %(p)s AND NOT has_end)::bigint
              AS running_observations,
          (SELECT count(*) FROM traces
            WHERE project_id = %(p)s AND start_time >= now() - interval '1 hour')::bigint
              AS traces_last_hour,
          (SELECT count(*) FROM traces
            WHERE project_id = %(p)s AND start_time >= now() - interval '1 hour'
              AND level = 'ERROR')::bigint AS error_traces_last_hour,
          (SELECT max(start_time) FROM traces WHERE project_id = %(p)s) AS last_trace_at
    """
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(query, {"p": project_id})
        return await cur.fetchone() or {}


async def last_trace_at(conn: psycopg.AsyncConnection, project_id: str) -> datetime | None:
    cur = await conn.execute(
        "SELECT max(start_time) FROM traces WHERE project_id = %s", (project_id,)
    )
    row = await cur.fetchone()
    return row[0] if row else None
