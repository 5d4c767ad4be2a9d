"""The whole pipeline across its seams: instrumented LangGraph app -> Redis stream -> collector
-> PostgreSQL -> Studio API. Every part is the real one; only the chat model is a fake."""

from __future__ import annotations

import threading
from typing import TypedDict

import psycopg
import pytest
from fastapi.testclient import TestClient
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import END, START, StateGraph
from opentelemetry.sdk.trace import TracerProvider
from servers import wait_for
from swisper_studio.collector.api.app import create_app
from swisper_studio.collector.consumer import Consumer
from swisper_studio.collector.migrate import migrate
from swisper_studio.collector.projects import create_project
from swisper_studio.collector.settings import Settings
from swisper_studio.exporter import RedisStreamSpanProcessor
from swisper_studio.instrumentation import instrument_langgraph, uninstrument_langgraph


class State(TypedDict, total=False):
    question: str
    plan: str
    answer: str


def _build_graph():
    model = FakeMessagesListChatModel(
        responses=[
            AIMessage(
                content="42",
                usage_metadata={"input_tokens": 11, "output_tokens": 3, "total_tokens": 14},
            )
        ]
        * 10
    )

    def plan(state: State) -> State:
        return {"plan": f"answer {state['question']}"}

    def think(state: State) -> State:
        reply = model.invoke([HumanMessage(state["plan"])])
        return {"answer": str(reply.content)}

    def finish(state: State) -> State:
        return {"answer": state["answer"] + "!"}

    builder = StateGraph(State)
    builder.add_node("plan", plan)
    builder.add_node("think", think)
    builder.add_node("finish", finish)
    builder.add_edge(START, "plan")
    builder.add_edge("plan", "think")
    builder.add_edge("think", "finish")
    builder.add_edge("finish", END)
    return builder.compile(name="qa_agent")


@pytest.fixture
def pipeline(redis_url: str, database_url: str, stream_name: str):
    settings = Settings(
        redis_url=redis_url,
        database_url=database_url,
        stream_name=stream_name,
        block_ms=50,
        heartbeat_interval_s=0.5,
    )
    migrate(database_url)
    with psycopg.connect(database_url) as conn:
        project_id, api_key = create_project(conn, "e2e")
    consumer = Consumer(settings)
    thread = threading.Thread(target=consumer.run, kwargs={"install_signal_handlers": False})
    thread.start()
    processor = RedisStreamSpanProcessor(
        redis_url=redis_url, stream_name=stream_name, project_id=project_id
    )
    provider = TracerProvider()
    provider.add_span_processor(processor)
    instrument_langgraph(tracer_provider=provider)
    try:
        yield settings, processor, api_key
    finally:
        uninstrument_langgraph()
        provider.shutdown()
        consumer.stop()
        thread.join(30)


def test_a_traced_graph_run_is_browsable_as_a_tree_through_the_api(pipeline):
    settings, processor, api_key = pipeline
    graph = _build_graph()
    result = graph.invoke(
        {"question": "life"},
        config={"configurable": {"thread_id": "sess-1"}, "metadata": {"user_id": "ada"}},
    )
    assert result["answer"] == "42!"
    assert processor.force_flush(10_000)
    assert processor.stats()["dropped_total"] == 0

    headers = {"Authorization": f"Bearer {api_key}"}
    with TestClient(create_app(settings)) as client:

        def finished_trace():
            page = client.get("/api/v1/traces", params={"session_id": "sess-1"}, headers=headers)
            rows = page.json()["data"]
            return (
                rows
                if rows and not rows[0]["running"] and rows[0]["observation_count"] >= 5
                else None
            )

        rows = wait_for(finished_trace, timeout=30, what="the trace in the API")
        assert len(rows) == 1
        trace = rows[0]
        assert trace["name"] == "qa_agent"
        assert trace["user_id"] == "ada"
        assert trace["total_tokens"] == 14

        detail = client.get(f"/api/v1/traces/{trace['id']}", headers=headers).json()
        observations = {o["name"]: o for o in detail["observations"]}
        root = observations["qa_agent"]
        assert root["parent_observation_id"] is None
        for node in ("plan", "think", "finish"):
            assert observations[node]["parent_observation_id"] == root["id"]
            assert observations[node]["langgraph_node"] == node
            assert observations[node]["type"] == "CHAIN"
        generations = [o for o in detail["observations"] if o["type"] == "GENERATION"]
        assert len(generations) == 1
        assert generations[0]["parent_observation_id"] == observations["think"]["id"]
        assert generations[0]["input_tokens"] == 11
        assert generations[0]["output_tokens"] == 3
        steps = [observations[n]["langgraph_step"] for n in ("plan", "think", "finish")]
        assert steps == sorted(steps) and len(set(steps)) == 3

        other = client.get(f"/api/v1/traces/{trace['id']}", headers={"Authorization": "Bearer x"})
        assert other.status_code == 401
