"""Span events -> rows: conventions read, folding rules, wire round trip (no I/O)."""

from __future__ import annotations

import itertools

import pytest
from collector_support import WireRecorder, agent_trace, make_tracer
from hypothesis import given, settings
from hypothesis import strategies as st
from swisper_studio.collector import mapping
from swisper_studio.exporter import wire


def _event(attributes=None, *, end=True, parent="1" * 16, status="UNSET", events=(), **kw):
    return wire.SpanEvent(
        type=wire.SPAN_END if end else wire.SPAN_START,
        project_id=kw.get("project_id", "p"),
        trace_id="a" * 32,
        span_id=kw.get("span_id", "b" * 16),
        parent_span_id=parent,
        name=kw.get("name", "span"),
        kind="INTERNAL",
        start_time_unix_nano=1_000_000_000,
        end_time_unix_nano=2_000_000_000 if end else None,
        attributes=dict(attributes or {}),
        status_code=status,
        status_message=kw.get("status_message"),
        events=list(events),
        resource=kw.get("resource", {}),
    )


def test_openinference_llm_span_maps_to_generation_with_model_usage_and_json_io():
    row = mapping.observation_row(
        _event(
            {
                "openinference.span.kind": "LLM",
                "llm.model_name": "gpt-4o",
                "llm.token_count.prompt": 7,
                "llm.token_count.completion": 3,
                "llm.token_count.total": 10,
                "input.value": '{"messages": [1]}',
                "input.mime_type": "application/json",
                "output.value": "plain {not json",
                "output.mime_type": "text/plain",
                "llm.invocation_parameters": '{"temperature": 0.2}',
                "custom.key": "kept",
            }
        )
    )
    assert row["type"] == "GENERATION"
    assert row["model"] == "gpt-4o"
    assert (row["input_tokens"], row["output_tokens"], row["total_tokens"]) == (7, 3, 10)
    assert row["input"] == {"messages": [1]}
    assert row["output"] == "plain {not json"
    assert row["model_parameters"] == {"temperature": 0.2}
    assert row["metadata"]["custom.key"] == "kept"
    assert "input.value" not in row["metadata"]


def test_gen_ai_attributes_give_type_model_usage_and_parameters():
    row = mapping.observation_row(
        _event(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "claude",
                "gen_ai.response.model": "claude-2024",
                "gen_ai.usage.input_tokens": 11,
                "gen_ai.usage.output_tokens": 4,
                "gen_ai.usage.cache_read_input_tokens": 2,
                "gen_ai.request.temperature": 0.5,
                "gen_ai.response.time_to_first_token": 0.25,
            }
        )
    )
    assert row["type"] == "GENERATION"
    assert row["model"] == "claude-2024"
    assert row["usage"] == {"input": 11, "output": 4, "total": 15, "cache_read_input_tokens": 2}
    assert row["model_parameters"] == {"temperature": 0.5}
    assert row["completion_start_time_ns"] == 1_250_000_000
    tool = mapping.observation_row(_event({"gen_ai.operation.name": "execute_tool"}))
    assert tool["type"] == "TOOL"


def test_legacy_prompt_completion_tokens_and_indexed_messages():
    row = mapping.observation_row(
        _event(
            {
                "llm.request.type": "chat",
                "gen_ai.usage.prompt_tokens": 5,
                "gen_ai.usage.completion_tokens": 6,
                "gen_ai.prompt.0.role": "user",
                "gen_ai.prompt.0.content": "hi",
                "gen_ai.completion.0.role": "assistant",
                "gen_ai.completion.0.content": "hello",
            }
        )
    )
    assert row["type"] == "GENERATION"
    assert (row["input_tokens"], row["output_tokens"], row["total_tokens"]) == (5, 6, 11)
    assert row["input"] == [{"role": "user", "content": "hi"}]
    assert row["output"] == [{"role": "assistant", "content": "hello"}]


def test_langfuse_attributes_set_type_level_io_and_model():
    row = mapping.observation_row(
        _event(
            {
                "langfuse.observation.type": "agent",
                "langfuse.observation.level": "WARNING",
                "langfuse.observation.input": '{"q": 1}',
                "langfuse.observation.output": "done",
                "langfuse.observation.model.name": "m1",
                "langfuse.observation.status_message": "slow",
            }
        )
    )
    assert (row["type"], row["level"], row["model"]) == ("AGENT", "WARNING", "m1")
    assert row["input"] == {"q": 1}
    assert row["output"] == "done"
    assert row["status_message"] == "slow"


def test_kinds_map_to_langfuse_types():
    for kind, expected in [
        ("LLM", "GENERATION"),
        ("EMBEDDING", "GENERATION"),
        ("TOOL", "TOOL"),
        ("AGENT", "AGENT"),
        ("CHAIN", "CHAIN"),
        ("RETRIEVER", "RETRIEVER"),
        ("GUARDRAIL", "SPAN"),
    ]:
        row = mapping.observation_row(_event({"openinference.span.kind": kind}))
        assert row["type"] == expected, kind
    assert mapping.observation_row(_event({"http.method": "GET"}))["type"] == "SPAN"


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ({"gen_ai.tool.name": "search"}, "TOOL"),
        ({"gen_ai.tool.name": "search", "gen_ai.request.model": "m"}, "TOOL"),
        ({"gen_ai.operation.name": "execute_tool"}, "TOOL"),
        ({"gen_ai.operation.name": "chat"}, "GENERATION"),
        ({"gen_ai.operation.name": "text_completion"}, "GENERATION"),
        ({"gen_ai.operation.name": "generate_content"}, "GENERATION"),
        ({"gen_ai.operation.name": "embeddings"}, "GENERATION"),
        ({"gen_ai.request.model": "gpt-4o"}, "GENERATION"),
        ({"gen_ai.tool.name": "search", "openinference.span.kind": "CHAIN"}, "CHAIN"),
    ],
)
def test_gen_ai_semantic_conventions_give_the_type(attributes, expected):
    assert mapping.observation_row(_event(attributes))["type"] == expected


def test_error_status_gives_error_level_and_exception_message():
    attrs = {"exception.type": "KeyError", "exception.message": "x"}
    exc = {"name": "exception", "attributes": attrs}
    row = mapping.observation_row(_event(status="ERROR", events=[exc]))
    assert row["level"] == "ERROR"
    assert row["status_code"] == "ERROR"
    assert row["status_message"] == "KeyError: x"
    handled = mapping.observation_row(_event(events=[exc]))
    assert handled["level"] == "WARNING"


def test_langgraph_node_and_step_from_attributes_or_metadata():
    row = mapping.observation_row(_event({"langgraph.node": "plan", "langgraph.step": 3}))
    assert (row["langgraph_node"], row["langgraph_step"]) == ("plan", 3)
    row = mapping.observation_row(
        _event({"metadata": '{"langgraph_node": "act", "langgraph_step": "4", "x": 1}'})
    )
    assert (row["langgraph_node"], row["langgraph_step"]) == ("act", 4)
    assert row["metadata"]["metadata"]["x"] == 1


def test_first_token_event_sets_completion_start_time():
    row = mapping.observation_row(
        _event(events=[{"name": "gen_ai.first_token", "time_unix_nano": 1_500_000_000}])
    )
    assert row["completion_start_time_ns"] == 1_500_000_000


def test_time_to_first_token_attribute_in_milliseconds():
    row = mapping.observation_row(_event({"llm.time_to_first_token_ms": 120.0}))
    assert row["completion_start_time_ns"] == 1_120_000_000
    assert "llm.time_to_first_token_ms" not in row["metadata"]


def test_start_only_span_is_running():
    row = mapping.observation_row(_event(end=False))
    assert row["end_time_ns"] is None
    assert (row["has_start"], row["has_end"]) == (True, False)


def test_root_span_fills_trace_fields_from_every_convention():
    resource = {"attributes": {"service.name": "agent-svc", "deployment.environment": "prod"}}
    root = _event(
        {
            "langfuse.session.id": "sess",
            "langfuse.user.id": "usr",
            "langfuse.trace.tags": ["b", "a"],
            "metadata": '{"team": "x"}',
            "input.value": "hello",
        },
        parent=None,
        name="graph",
        resource=resource,
    )
    row = mapping.trace_row(root, "DEFAULT")
    assert (row["name"], row["session_id"], row["user_id"]) == ("graph", "sess", "usr")
    assert row["tags"] == ["a", "b"]
    assert row["metadata"]["team"] == "x"
    assert row["metadata"]["resource"]["deployment.environment"] == "prod"
    assert row["service_name"] == "agent-svc"
    assert row["input"] == "hello"
    assert row["status"] == "UNSET"
    conv = mapping.trace_row(_event({"gen_ai.conversation.id": "c1"}, parent=None), "DEFAULT")
    assert conv["session_id"] == "c1"
    child = mapping.trace_row(_event({"session.id": "ignored"}), "DEFAULT")
    assert child["session_id"] is None and child["root_observation_id"] is None


def test_empty_project_id_maps_to_default():
    assert mapping.observation_row(_event(project_id=""))["project_id"] == "default"


def _trace_events():
    recorder = WireRecorder()
    agent_trace(make_tracer(recorder), fail_tool=True)
    return [wire.decode_entry(fields) for fields in recorder.events]


def test_wire_round_trip_through_mapping_gives_a_complete_tree():
    events = _trace_events()
    batch = mapping.map_events(events)
    rows = list(batch.observations.values())
    assert len(rows) == len(events) // 2
    assert all(r["has_start"] and r["has_end"] for r in rows)
    (trace,) = batch.traces.values()
    root = next(r for r in rows if r["parent_observation_id"] is None)
    assert trace["root_observation_id"] == root["id"]
    assert trace["level"] == "ERROR"
    assert trace["session_id"] == "s1"
    assert {r["type"] for r in rows} == {"CHAIN", "GENERATION", "TOOL"}


def _canonical(batch):
    return sorted(batch.observations.items()), sorted(batch.traces.items())


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_folding_is_independent_of_order_and_duplicates(data):
    events = _trace_events()[:8]
    expected = _canonical(mapping.map_events(events))
    shuffled = data.draw(st.permutations(events))
    extra = data.draw(st.lists(st.sampled_from(events), max_size=8))
    assert _canonical(mapping.map_events([*shuffled, *extra])) == expected


def test_fold_observation_is_commutative_for_start_and_end():
    start, end = (mapping.observation_row(e) for e in (_event(end=False), _event(end=True)))
    for a, b in itertools.permutations([start, end]):
        assert mapping.fold_observation(a, b) == mapping.fold_observation(end, start)


def test_a_start_not_covered_by_its_end_is_still_folded_in_any_order():
    start = _event({"only.at.start": 1, "shared": "a"}, end=False)
    end = _event({"shared": "b", "only.at.end": 2}, end=True)
    expected = {"only.at.start": 1, "shared": "b", "only.at.end": 2}
    for order in ([start, end], [end, start]):
        batch = mapping.MappedBatch()
        for event in order:
            batch.add(event)
        (row,) = batch.observations.values()
        assert {k: row["metadata"][k] for k in expected} == expected
        assert row["has_start"] and row["has_end"]
