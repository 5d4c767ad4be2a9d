"""LLM, tool and retriever spans inside nodes, including a prebuilt ReAct agent."""

from __future__ import annotations

import json
import warnings

import pytest
from fake_models import ToolCallingFakeModel, ai
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.messages import HumanMessage
from langchain_core.retrievers import BaseRetriever
from langchain_core.tools import tool
from langgraph.graph import END, START, MessagesState, StateGraph
from opentelemetry.trace import StatusCode


@tool
def get_weather(city: str) -> str:
    """Weather for a city."""
    return f"sunny in {city}"


@tool
def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def _chat_graph(model, *, stream: bool = False):
    def call_model(state: MessagesState):
        if stream:
            chunks = list(model.stream(state["messages"]))
            message = chunks[0]
            for chunk in chunks[1:]:
                message = message + chunk
            return {"messages": [ai(str(message.content))]}
        return {"messages": [model.invoke(state["messages"])]}

    g = StateGraph(MessagesState)
    g.add_node("model", call_model)
    g.add_edge(START, "model")
    g.add_edge("model", END)
    return g.compile(name="chat")


def test_chat_model_call_is_an_llm_span_under_the_node(spans):
    model = ToolCallingFakeModel(responses=[ai("Hello Ada", usage=(12, 3))])
    _chat_graph(model).invoke({"messages": [HumanMessage("hi, I am Ada")]})
    s = spans()
    llm = s.one("ToolCallingFakeModel")
    assert s.parent_of(llm) is s.one("model")
    a = llm.attributes
    assert a["openinference.span.kind"] == "LLM"
    assert a["gen_ai.request.model"] == "fake-gpt"
    assert a["gen_ai.request.temperature"] == 0.2
    assert json.loads(a["llm.invocation_parameters"])["model_name"] == "fake-gpt"
    assert a["gen_ai.usage.input_tokens"] == 12
    assert a["gen_ai.usage.output_tokens"] == 3
    assert a["llm.token_count.total"] == 15
    assert a["llm.input_messages.0.message.role"] == "user"
    assert a["llm.input_messages.0.message.content"] == "hi, I am Ada"
    assert json.loads(a["input.value"])["messages"][0]["content"] == "hi, I am Ada"
    assert json.loads(a["output.value"])["content"] == "Hello Ada"
    assert a["llm.output_messages.0.message.role"] == "assistant"
    assert a["llm.output_messages.0.message.content"] == "Hello Ada"


async def test_async_chat_model_call_is_an_llm_span_under_the_node(spans):
    model = ToolCallingFakeModel(responses=[ai("async hello")])

    async def call_model(state: MessagesState):
        return {"messages": [await model.ainvoke(state["messages"])]}

    g = StateGraph(MessagesState)
    g.add_node("model", call_model)
    g.add_edge(START, "model")
    g.add_edge("model", END)
    await g.compile(name="achat").ainvoke({"messages": [HumanMessage("hi")]})
    s = spans()
    llm = s.one("ToolCallingFakeModel")
    assert s.parent_of(llm) is s.one("model")
    assert llm.attributes["gen_ai.usage.output_tokens"] == 5


def test_streaming_records_time_to_first_token_and_usage(spans):
    model = ToolCallingFakeModel(responses=[ai("one two three", usage=(7, 3))])
    _chat_graph(model, stream=True).invoke({"messages": [HumanMessage("count")]})
    llm = spans().one("ToolCallingFakeModel")
    first = [e for e in llm.events if e.name == "first_token"]
    assert len(first) == 1
    assert llm.start_time <= first[0].timestamp <= llm.end_time
    assert llm.attributes["llm.time_to_first_token_ms"] >= 0
    assert llm.attributes["gen_ai.usage.input_tokens"] == 7
    assert llm.attributes["gen_ai.usage.output_tokens"] == 3
    assert json.loads(llm.attributes["output.value"])["content"] == "one two three"


def test_model_error_is_recorded_on_llm_node_and_root(spans):
    class Broken(ToolCallingFakeModel):
        def _generate(self, *args, **kwargs):
            raise TimeoutError("provider timed out")

    with pytest.raises(TimeoutError):
        _chat_graph(Broken(responses=[ai("x")])).invoke({"messages": [HumanMessage("hi")]})
    s = spans()
    llm = s.one("Broken")
    assert llm.status.status_code is StatusCode.ERROR
    assert s.one("model").status.status_code is StatusCode.ERROR
    assert s.one("chat").status.status_code is StatusCode.ERROR


def _react_agent(model, tools):
    from langgraph.prebuilt import create_react_agent

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return create_react_agent(model, tools, name="react")


def test_react_agent_with_two_tools_gives_llm_and_tool_spans_in_order(spans):
    model = ToolCallingFakeModel(
        responses=[
            ai(
                "",
                tool_calls=[
                    {"name": "get_weather", "args": {"city": "Bern"}, "id": "call_1"},
                    {"name": "add", "args": {"a": 2, "b": 3}, "id": "call_2"},
                ],
                usage=(20, 8),
            ),
            ai("It is sunny in Bern and 2+3=5.", usage=(40, 12)),
        ]
    )
    agent = _react_agent(model, [get_weather, add])
    out = agent.invoke(
        {"messages": [HumanMessage("weather in Bern and 2+3?")]},
        {"configurable": {"thread_id": "react-1"}},
    )
    assert out["messages"][-1].content == "It is sunny in Bern and 2+3=5."
    s = spans()
    root = s.one("react")
    assert root.parent is None
    assert root.attributes["session.id"] == "react-1"

    agent_nodes = sorted(s.named("agent"), key=lambda x: x.start_time)
    assert len(agent_nodes) == 2 and all(s.parent_of(n) is root for n in agent_nodes)
    llms = sorted(s.named("ToolCallingFakeModel"), key=lambda x: x.start_time)
    assert [s.parent_of(x) for x in llms] == agent_nodes
    assert [x.attributes["gen_ai.usage.input_tokens"] for x in llms] == [20, 40]
    first = llms[0].attributes
    assert first["llm.output_messages.0.message.tool_calls.0.tool_call.function.name"] == (
        "get_weather"
    )
    assert json.loads(
        first["llm.output_messages.0.message.tool_calls.1.tool_call.function.arguments"]
    ) == {"a": 2, "b": 3}

    tool_nodes = s.named("tools")
    assert tool_nodes and all(s.parent_of(n) is root for n in tool_nodes)
    weather, adder = s.one("get_weather"), s.one("add")
    assert s.parent_of(weather) in tool_nodes and s.parent_of(adder) in tool_nodes
    assert weather.attributes["openinference.span.kind"] == "TOOL"
    assert weather.attributes["gen_ai.tool.name"] == "get_weather"
    assert weather.attributes["gen_ai.tool.call.id"] == "call_1"
    assert json.loads(weather.attributes["input.value"]) == {"city": "Bern"}
    assert json.loads(weather.attributes["output.value"]) == "sunny in Bern"
    assert json.loads(adder.attributes["output.value"]) == "5"
    assert {x.context.trace_id for x in s.all} == {root.context.trace_id}


def test_tool_error_is_an_error_span(spans):
    @tool
    def explode(x: int) -> int:
        """Always fails."""
        raise ValueError("bad input")

    def node(state: MessagesState):
        try:
            explode.invoke({"x": 1})
        except ValueError:
            pass
        return {"messages": [ai("recovered")]}

    g = StateGraph(MessagesState)
    g.add_node("call_tool", node)
    g.add_edge(START, "call_tool")
    g.add_edge("call_tool", END)
    g.compile(name="tool_err").invoke({"messages": []})
    s = spans()
    span = s.one("explode")
    assert span.status.status_code is StatusCode.ERROR
    assert s.parent_of(span) is s.one("call_tool")
    assert s.one("call_tool").status.status_code is StatusCode.UNSET


class _Docs(BaseRetriever):
    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[Document]:
        return [Document(page_content=f"doc about {query}", id="d1")]


def test_retriever_call_is_a_retriever_span(spans):
    retriever = _Docs()

    def retrieve(state: MessagesState):
        docs = retriever.invoke("otel")
        return {"messages": [ai(docs[0].page_content)]}

    g = StateGraph(MessagesState)
    g.add_node("retrieve", retrieve)
    g.add_edge(START, "retrieve")
    g.add_edge("retrieve", END)
    g.compile(name="rag").invoke({"messages": []})
    s = spans()
    span = s.one("_Docs")
    assert s.parent_of(span) is s.one("retrieve")
    assert span.attributes["openinference.span.kind"] == "RETRIEVER"
    assert span.attributes["input.value"] == '"otel"'
    assert span.attributes["retrieval.documents.0.document.content"] == "doc about otel"
    assert span.attributes["retrieval.documents.0.document.id"] == "d1"


def test_model_called_inside_a_tool_nests_under_the_tool_span(spans):
    inner_model = ToolCallingFakeModel(responses=[ai("inner answer")])

    @tool
    def ask_expert(question: str) -> str:
        """Ask another model."""
        return str(inner_model.invoke(question).content)

    def node(state: MessagesState):
        return {"messages": [ai(ask_expert.invoke({"question": "why?"}))]}

    g = StateGraph(MessagesState)
    g.add_node("expert", node)
    g.add_edge(START, "expert")
    g.add_edge("expert", END)
    g.compile(name="nested").invoke({"messages": []})
    s = spans()
    tool_span = s.one("ask_expert")
    assert s.parent_of(tool_span) is s.one("expert")
    assert s.parent_of(s.one("ToolCallingFakeModel")) is tool_span


async def test_async_react_agent_gives_tool_and_llm_spans_with_usage(spans):
    model = ToolCallingFakeModel(
        responses=[
            ai("", tool_calls=[{"name": "add", "args": {"a": 1, "b": 2}, "id": "c1"}]),
            ai("3", usage=(30, 1)),
        ]
    )
    out = await _react_agent(model, [get_weather, add]).ainvoke({"messages": [HumanMessage("1+2")]})
    assert out["messages"][-1].content == "3"
    s = spans()
    root = s.one("react")
    adder = s.one("add")
    assert s.parent_of(s.parent_of(adder)) is root
    assert json.loads(adder.attributes["output.value"]) == "3"
    llms = s.named("ToolCallingFakeModel")
    assert len(llms) == 2
    assert all(s.parent_of(s.parent_of(x)) is root for x in llms)
    assert sorted(x.attributes["gen_ai.usage.input_tokens"] for x in llms) == [10, 30]


def test_llm_and_tool_spans_carry_kind_model_and_input_from_their_start(spans, provider):
    """span_start events (the Studio's in-progress view) already know what the span is."""
    from opentelemetry.sdk.trace import SpanProcessor

    class AtStart(SpanProcessor):
        seen: dict[str, dict] = {}

        def on_start(self, span, parent_context=None):
            self.seen[span.name] = dict(span.attributes or {})

    tracker = AtStart()
    provider.add_span_processor(tracker)
    model = ToolCallingFakeModel(
        responses=[
            ai("", tool_calls=[{"name": "add", "args": {"a": 1, "b": 1}, "id": "c9"}]),
            ai("2"),
        ]
    )
    _react_agent(model, [add]).invoke({"messages": [HumanMessage("1+1")]})
    llm = tracker.seen["ToolCallingFakeModel"]
    assert llm["openinference.span.kind"] == "LLM"
    assert llm["gen_ai.request.model"] == "fake-gpt"
    assert "1+1" in llm["input.value"]
    tool_start = tracker.seen["add"]
    assert tool_start["openinference.span.kind"] == "TOOL"
    assert json.loads(tool_start["input.value"]) == {"a": 1, "b": 1}
