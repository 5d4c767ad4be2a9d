"""Response and parameter models of the Studio API (the OpenAPI document is built from these)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

T = TypeVar("T")

Level = Literal["DEBUG", "DEFAULT", "WARNING", "ERROR"]
ObservationType = Literal["SPAN", "GENERATION", "EVENT", "AGENT", "TOOL", "CHAIN", "RETRIEVER"]
Order = Literal["desc", "asc"]

TRACE_ID_PATTERN = r"^[0-9a-fA-F]{32}$"
OBSERVATION_ID_PATTERN = r"^[0-9a-fA-F]{16}$"


def no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL; refuse it here (422) instead of failing in the driver.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


FilterText = Annotated[str, StringConstraints(min_length=1, max_length=500), AfterValidator(no_nul)]
"""A free-text filter value: 1-500 characters, no NUL."""


class ErrorBody(BaseModel):
    code: str = Field(description="Machine-readable error code, e.g. `invalid_parameter`.")
    message: str = Field(description="What went wrong, for humans.")
    details: list[dict[str, Any]] | None = Field(
        None, description="Per-field problems of a validation error."
    )


class ErrorResponse(BaseModel):
    """Every error answer: ``{"error": {"code", "message"}}``."""

    error: ErrorBody


class Page(BaseModel, Generic[T]):
    data: list[T]
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` to get the next page; null on the last page."
    )


class TraceSummary(BaseModel):
    """One row of the trace list."""

    id: str = Field(description="OTel trace id, 32 lowercase hex digits.")
    name: str | None = Field(None, description="Root span name (the graph's name).")
    user_id: str | None = None
    session_id: str | None = Field(None, description="LangGraph thread id or explicit session.")
    start_time: datetime
    end_time: datetime | None = Field(
        None, description="Latest end of any of its spans (final once the root has ended)."
    )
    duration_ms: float | None = Field(
        None, description="end - start in ms; null while the root span runs."
    )
    level: Level = Field(description="Worst level over the trace's observations.")
    status: str = Field(description="Root span status: UNSET, OK, ERROR, or RUNNING.")
    status_message: str | None = None
    tags: list[str] = Field(default_factory=list)
    service_name: str | None = None
    observation_count: int = 0
    error_count: int = Field(0, description="Observations with level ERROR.")
    latency: float | None = Field(
        None, description="end - start in seconds (as Langfuse's `latency`); null while running."
    )
    input_tokens: int = Field(0, description="Sum over the trace's observations; 0 if none.")
    output_tokens: int = Field(0, description="Sum over the trace's observations; 0 if none.")
    total_tokens: int = Field(
        0,
        description="Sum over the trace's observations (input + output where no total); 0 "
        "when the trace made no LLM calls.",
    )
    running: bool = Field(description="True while the root or any span has not ended.")


class Observation(BaseModel):
    """One span of a trace, with its payloads."""

    id: str = Field(description="OTel span id, 16 lowercase hex digits.")
    trace_id: str
    parent_observation_id: str | None = Field(None, description="Parent span id; null at roots.")
    type: ObservationType
    name: str
    kind: str | None = Field(None, description="OTel span kind.")
    start_time: datetime
    end_time: datetime | None = None
    completion_start_time: datetime | None = None
    duration_ms: float | None = None
    level: Level
    status_code: str
    status_message: str | None = None
    input: Any = None
    output: Any = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    model: str | None = None
    model_parameters: Any = None
    usage: Any = None
    input_tokens: int | None = Field(None, description="Null when the span reported no usage.")
    output_tokens: int | None = Field(None, description="Null when the span reported no usage.")
    total_tokens: int | None = Field(None, description="Null when the span reported no usage.")
    langgraph_node: str | None = None
    langgraph_step: int | None = None
    events: list[Any] = Field(default_factory=list)
    running: bool = Field(description="True while only the span's start has arrived.")
    depth: int | None = Field(None, description="Depth in the trace's tree (trace view only).")


class ObservationNode(BaseModel):
    """A node of the span tree: the observation's key facts and its children in start order."""

    id: str
    name: str
    type: ObservationType
    start_time: datetime
    end_time: datetime | None = None
    duration_ms: float | None = None
    level: Level
    running: bool
    depth: int
    children: list[ObservationNode] = Field(default_factory=list)


class TraceDetail(TraceSummary):
    """A trace with its observations, flat (in start order) and as a tree."""

    input: Any = None
    output: Any = None
    metadata: dict[str, Any] = Field(default_factory=dict)
    root_observation_id: str | None = None
    updated_at: datetime | None = None
    observations: list[Observation] = Field(
        description="All observations, parents before children, in start order."
    )
    tree: list[ObservationNode] = Field(
        description="Roots (spans without a stored parent) with nested children."
    )


class SessionSummary(BaseModel):
    session_id: str
    trace_count: int
    first_trace_at: datetime = Field(description="Start of the session's first trace.")
    last_trace_at: datetime = Field(description="Start of the session's latest trace.")
    user_ids: list[str] = Field(default_factory=list)
    error_count: int = Field(0, description="Traces with level ERROR.")


class SessionDetail(SessionSummary):
    traces: list[TraceSummary] = Field(description="The session's traces in start order.")
    next_cursor: str | None = Field(None, description="More traces: pass as `cursor`.")


class PipelineHealth(BaseModel):
    """The collector pipeline's health, read from Redis (see collector/health.py)."""

    model_config = ConfigDict(extra="allow")

    status: Literal["healthy", "degraded", "down"]
    consumer_alive: bool = False
    last_heartbeat: Any = None
    heartbeat_age_seconds: float | None = None
    consumers: list[Any] = Field(default_factory=list)
    stream_length: int | None = None
    pending_events: int | None = None
    group_lag: int | None = None
    dead_lettered: int | None = None
    warnings: list[str] = Field(default_factory=list)


class ConnectionStatus(PipelineHealth):
    project_id: str
    redis_reachable: bool
    database_reachable: bool
    last_trace_at: datetime | None = Field(None, description="Latest trace of this project.")


class Metrics(ConnectionStatus):
    traces_total: int
    observations_total: int
    running_observations: int
    traces_last_hour: int
    error_traces_last_hour: int


class Liveness(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready", "not_ready"]
    database: bool
    redis: bool
    errors: list[str] = Field(default_factory=list)


class UiConfig(BaseModel):
    """What the web page needs before it has a key."""

    auth_required: bool
    dev_mode: bool
    version: str
    live_poll_ms: int = 1000
