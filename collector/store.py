"""PostgreSQL writer: one transaction per batch, set-based idempotent upserts.

A batch is rendered as two JSON arrays of rows (one ``orjson.dumps`` each, done by the consumer
while the previous batch is being written) and merged with ``INSERT ... SELECT ... FROM
jsonb_populate_recordset(...) ON CONFLICT DO UPDATE``, the statements sent in one pipeline (one
round trip per batch: the writer thread hardly needs the GIL). The ``ON CONFLICT`` clauses apply
the folding rules of ``mapping.py`` so a row meeting the stored one gives the same result in any
order and any number of times. Rows are rendered in key order and merged in that order, so two
collectors writing overlapping traces lock rows in the same order (a deadlock, should one still
happen, is retried like an outage). The temporary tables ``obs_in`` / ``trace_in`` only give
the row types (``jsonb_populate_recordset(NULL::obs_in, ...)``); they stay empty.

Errors come in two kinds: :class:`StoreUnavailable` (connection lost, server shutting down,
serialisation failure: retry the whole batch later, nothing is lost) and data errors (a row
the database refuses). For the latter :meth:`Store.write_each` writes record by record, each
under a savepoint, so one poison record is isolated while the others commit.
"""

from __future__ import annotations

import logging
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import psycopg
from swisper_studio.collector.mapping import TRACE_ROOT_FIELDS, MappedBatch, Row

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

# SQLSTATE classes worth a retry of the whole batch: connection exception, transaction rollback
# (serialisation failure, deadlock), insufficient resources, operator intervention, system error.
_TRANSIENT_CLASSES = frozenset({"08", "40", "53", "57", "58"})

_OBS_JSON = frozenset({"input", "output", "metadata", "model_parameters", "usage", "events"})
_TRACE_JSON = frozenset({"input", "output", "metadata"})

_CREATE_TEMP = """
CREATE TEMP TABLE IF NOT EXISTS obs_in (
    id text, trace_id text, project_id text, parent_observation_id text, type text, name text,
    kind text, start_time_ns bigint, end_time_ns bigint, completion_start_time_ns bigint,
    level text, status_code text, status_message text, input jsonb, output jsonb,
    metadata jsonb, model text, model_parameters jsonb, usage jsonb, input_tokens bigint,
    output_tokens bigint, total_tokens bigint, langgraph_node text, langgraph_step integer,
    events jsonb, has_start boolean, has_end boolean
) ON COMMIT DELETE ROWS;
CREATE TEMP TABLE IF NOT EXISTS trace_in (
    id text, project_id text, name text, user_id text, session_id text, start_time_ns bigint,
    end_time_ns bigint, input jsonb, output jsonb, metadata jsonb, tags text[], level text,
    status text, status_message text, root_observation_id text, service_name text
) ON COMMIT DELETE ROWS;
"""

ENSURE_PROJECTS = """
INSERT INTO projects (id, name, auto_created)
SELECT p, p, true FROM unnest(%s::text[]) AS p
ORDER BY p
ON CONFLICT (id) DO NOTHING
"""


def _ts(column: str) -> str:
    return f"('epoch'::timestamptz + ({column} / 1000) * interval '1 microsecond')"


def _rank(expr: str) -> str:
    return f"array_position(ARRAY['DEBUG','DEFAULT','WARNING','ERROR'], {expr})"


# The newer half wins unless it is a span_start meeting a stored span_end (mapping.py rules).
_OBS_NEW_WINS = "(EXCLUDED.has_end OR NOT o.has_end)"


def _obs_prefer(column: str) -> str:
    return (
        f"{column} = CASE WHEN {_OBS_NEW_WINS} THEN COALESCE(EXCLUDED.{column}, o.{column}) "
        f"ELSE COALESCE(o.{column}, EXCLUDED.{column}) END"
    )


_OBS_PREFERRED = (
    "parent_observation_id",
    "type",
    "name",
    "kind",
    "start_time",
    "end_time",
    "completion_start_time",
    "status_code",
    "status_message",
    "input",
    "output",
    "model",
    "model_parameters",
    "usage",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "langgraph_node",
    "langgraph_step",
    "events",
)

MERGE_OBSERVATIONS = f"""
INSERT INTO observations AS o (
    id, trace_id, project_id, parent_observation_id, type, name, kind, start_time, end_time,
    completion_start_time, level, status_code, status_message, input, output, metadata, model,
    model_parameters, usage, input_tokens, output_tokens, total_tokens, langgraph_node,
    langgraph_step, events, has_start, has_end
)
SELECT id, trace_id, project_id, parent_observation_id, type, name, kind,
    {_ts("start_time_ns")}, {_ts("end_time_ns")}, {_ts("completion_start_time_ns")},
    level, status_code, status_message, input, output, metadata, model, model_parameters, usage,
    input_tokens, output_tokens, total_tokens, langgraph_node, langgraph_step,
    COALESCE(events, '[]'::jsonb), has_start, has_end
FROM jsonb_populate_recordset(NULL::obs_in, %s::jsonb)
ON CONFLICT (trace_id, id) DO UPDATE SET
    {", ".join(_obs_prefer(c) for c in _OBS_PREFERRED)},
    metadata = CASE WHEN {_OBS_NEW_WINS} THEN o.metadata || EXCLUDED.metadata
                    ELSE EXCLUDED.metadata || o.metadata END,
    level = CASE WHEN {_rank("EXCLUDED.level")} > {_rank("o.level")}
                 THEN EXCLUDED.level ELSE o.level END,
    has_start = o.has_start OR EXCLUDED.has_start,
    has_end = o.has_end OR EXCLUDED.has_end,
    updated_at = now()
WHERE o.project_id = EXCLUDED.project_id
"""


# 0 = no root seen, 1 = root start, 2 = root end (mapping.root_rank)
def _root_rank(row: str) -> str:
    return (
        f"(CASE WHEN {row}.status <> 'RUNNING' THEN 2 "
        f"WHEN {row}.root_observation_id IS NOT NULL THEN 1 ELSE 0 END)"
    )


_ROOT_RANK_NEW = _root_rank("EXCLUDED")
_ROOT_RANK_OLD = _root_rank("t")


def _trace_prefer(column: str) -> str:
    return (
        f"{column} = CASE WHEN {_ROOT_RANK_NEW} >= {_ROOT_RANK_OLD} "
        f"THEN COALESCE(EXCLUDED.{column}, t.{column}) "
        f"ELSE COALESCE(t.{column}, EXCLUDED.{column}) END"
    )


MERGE_TRACES = f"""
INSERT INTO traces AS t (
    id, project_id, name, user_id, session_id, start_time, end_time, input, output, metadata,
    tags, level, status, status_message, root_observation_id, service_name
)
SELECT id, project_id, name, user_id, session_id, {_ts("start_time_ns")}, {_ts("end_time_ns")},
    input, output, COALESCE(metadata, '{{}}'::jsonb), COALESCE(tags, '{{}}'::text[]), level,
    status, status_message, root_observation_id, service_name
FROM jsonb_populate_recordset(NULL::trace_in, %s::jsonb)
ON CONFLICT (id) DO UPDATE SET
    {", ".join(_trace_prefer(c) for c in TRACE_ROOT_FIELDS)},
    start_time = LEAST(t.start_time, EXCLUDED.start_time),
    end_time = GREATEST(t.end_time, EXCLUDED.end_time),
    level = CASE WHEN {_rank("EXCLUDED.level")} > {_rank("t.level")}
                 THEN EXCLUDED.level ELSE t.level END,
    updated_at = now()
WHERE t.project_id = EXCLUDED.project_id
"""


class StoreUnavailable(Exception):
    """PostgreSQL cannot be reached or asked for a retry: retry the whole batch later."""


def is_transient(exc: BaseException) -> bool:
    """True for errors where retrying the same batch later can succeed."""
    if isinstance(exc, StoreUnavailable | psycopg.InterfaceError):
        return True
    if isinstance(exc, psycopg.Error):
        sqlstate = exc.sqlstate
        return sqlstate is None or sqlstate[:2] in _TRANSIENT_CLASSES
    return False


def _no_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dict):
        return {str(k).replace("\x00", ""): _no_nul(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_no_nul(v) for v in value]
    return value


def json_text(value: Any) -> str | None:
    """JSON text for a jsonb column (PostgreSQL's jsonb refuses NUL characters: drop them)."""
    if value is None:
        return None
    raw = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    if b"\\u0000" in raw:
        raw = orjson.dumps(_no_nul(value), option=orjson.OPT_NON_STR_KEYS)
    return raw.decode()


def _rows_json(rows: list[Row], json_cols: frozenset) -> str:
    """The rows as one JSON array (``jsonb_populate_recordset`` input). NUL characters are
    dropped from the JSON columns (jsonb refuses them); a NUL in a text column stays, so the
    database refuses that record as before."""
    raw = orjson.dumps(rows, option=orjson.OPT_NON_STR_KEYS)
    if b"\\u0000" in raw:
        rows = [{k: _no_nul(v) if k in json_cols else v for k, v in row.items()} for row in rows]
        raw = orjson.dumps(rows, option=orjson.OPT_NON_STR_KEYS)
    return raw.decode()


@dataclass(slots=True)
class RenderedBatch:
    """A batch rendered for :meth:`Store.write`: rows as JSON arrays, in key order.

    Rendering is pure CPU, so the consumer does it while the previous batch is being written
    and the writer thread only sends three statements and waits.
    """

    observations: str
    traces: str
    project_ids: list[str]
    count: int

    def __len__(self) -> int:
        return self.count


def render(batch: MappedBatch) -> RenderedBatch:
    """Render a folded batch (rows in key order, so concurrent collectors lock rows in the
    same order)."""
    return RenderedBatch(
        _rows_json([batch.observations[k] for k in sorted(batch.observations)], _OBS_JSON),
        _rows_json([batch.traces[k] for k in sorted(batch.traces)], _TRACE_JSON),
        sorted(batch.project_ids),
        len(batch.observations),
    )


class Store:
    """One PostgreSQL connection used by one consumer; not thread-safe."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self._conn: psycopg.Connection | None = None

    def connect(self) -> None:
        """(Re)connect and prepare the temporary tables; raises StoreUnavailable."""
        self.close()
        try:
            conn = psycopg.connect(self.database_url, autocommit=False, connect_timeout=5)
            with conn.transaction():
                conn.execute(_CREATE_TEMP)
        except psycopg.Error as exc:
            raise StoreUnavailable(str(exc)) from exc
        self._conn = conn

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                pass
            self._conn = None

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self.connect()
        assert self._conn is not None
        return self._conn

    @staticmethod
    def _merge(conn: psycopg.Connection, rows: RenderedBatch) -> None:
        with conn.cursor() as cur:
            cur.execute(ENSURE_PROJECTS, (rows.project_ids,))
            cur.execute(MERGE_OBSERVATIONS, (rows.observations,))
            cur.execute(MERGE_TRACES, (rows.traces,))

    def write(self, batch: MappedBatch | RenderedBatch) -> None:
        """Write a folded (or already rendered) batch in one transaction, one round trip.

        Raises :class:`StoreUnavailable` for transient failures and ``psycopg.Error`` for data
        errors (the transaction is rolled back either way).
        """
        rows = batch if isinstance(batch, RenderedBatch) else render(batch)
        if not rows.count:
            return
        conn = self._connection()
        try:
            with conn.pipeline(), conn.transaction():
                self._merge(conn, rows)
        except psycopg.Error as exc:
            if is_transient(exc):
                self.close()
                raise StoreUnavailable(str(exc)) from exc
            raise

    def write_each(self, records: Sequence[tuple[Hashable, MappedBatch]]) -> dict[Hashable, str]:
        """Write records one by one, each under a savepoint, in one transaction.

        Returns ``{key: reason}`` for the records the database refused; the others are
        committed. Raises :class:`StoreUnavailable` when the database goes away meanwhile.
        """
        failed: dict[Hashable, str] = {}
        conn = self._connection()
        try:
            with conn.transaction():
                for key, batch in records:
                    if not batch.observations:
                        continue
                    try:
                        with conn.transaction():
                            self._merge(conn, render(batch))
                    except psycopg.Error as exc:
                        if is_transient(exc):
                            raise
                        failed[key] = f"{type(exc).__name__}: {exc}".strip()
                        logger.warning("record %s refused by PostgreSQL: %s", key, failed[key])
        except psycopg.Error as exc:
            self.close()
            raise StoreUnavailable(str(exc)) from exc
        return failed

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
