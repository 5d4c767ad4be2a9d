"""``/api/v1/projects/connection-status`` and ``/api/v1/observability/metrics``."""

from __future__ import annotations

from fastapi import APIRouter
from swisper_studio.collector.api import queries
from swisper_studio.collector.api.aliases import AliasRoute
from swisper_studio.collector.api.deps import AppSettings, Conn, ProjectId, Redis
from swisper_studio.collector.api.pipeline import read_pipeline_health
from swisper_studio.collector.api.schemas import ConnectionStatus, Metrics

router = APIRouter(prefix="/api/v1", tags=["pipeline"], route_class=AliasRoute)


@router.get(
    "/projects/connection-status",
    response_model=ConnectionStatus,
    summary="Pipeline connection status",
    description="Is the collector consuming? Consumer heartbeat age, stream length, pending "
    "entries, group lag, dead-lettered count, and an overall status: `healthy`, `degraded` "
    "(e.g. lag or a stale consumer) or `down` (no live consumer or Redis unreachable).",
)
async def connection_status(
    conn: Conn, project_id: ProjectId, settings: AppSettings, client: Redis
) -> ConnectionStatus:
    health = await read_pipeline_health(client, settings)
    return ConnectionStatus(
        **health,
        project_id=project_id,
        database_reachable=True,
        last_trace_at=await queries.last_trace_at(conn, project_id),
    )


@router.get(
    "/observability/metrics",
    response_model=Metrics,
    summary="Pipeline and project metrics",
    description="The connection status plus this project's counts: traces, observations, "
    "running observations, traces and error traces in the last hour.",
)
async def metrics(
    conn: Conn, project_id: ProjectId, settings: AppSettings, client: Redis
) -> Metrics:
    health = await read_pipeline_health(client, settings)
    counts = await queries.project_counts(conn, project_id)
    return Metrics(**health, **counts, project_id=project_id, database_reachable=True)
