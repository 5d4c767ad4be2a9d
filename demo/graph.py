"""The demo agent: a LangGraph support agent with a router, a planner, a ReAct loop and a subgraph.

::

    START -> router --(chitchat)--------------------------------------> answer -> END
                    \\-(math|units|docs)-> planner -> research -> summarise -^
    research  = ReAct subgraph "react_agent":  agent <-> tools (ToolNode, real tools)
    summarise = subgraph "summarise":          extract -> compose (writer model)

The router refuses prompts that look like injections (``GuardrailViolation``), so some runs end
in an error, as real traffic does.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import ToolNode, tools_condition
from swisper_studio.demo.model import DemoChatModel
from swisper_studio.demo.tools import TOOLS
from typing_extensions import TypedDict

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

GRAPH_NAME = "support_agent"
_BLOCKED = ("ignore your instructions", "drop table", "system prompt")


class GuardrailViolation(ValueError):
    """The router refused a prompt (the run ends with an error, like a real guardrail)."""


class DemoState(TypedDict, total=False):
    messages: Annotated[list[AnyMessage], add_messages]
    question: str
    route: str
    plan: str
    notes: list[str]
    answer: str


class ResearchState(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


class SummaryState(TypedDict, total=False):
    messages: list[AnyMessage]
    question: str
    notes: list[str]
    answer: str


def classify(question: str) -> str:
    """The route of a question: math, units, docs or chitchat."""
    lowered = question.lower()
    if any(pattern in lowered for pattern in _BLOCKED):
        raise GuardrailViolation("prompt rejected by the input guardrail")
    if any(word in lowered for word in (" to ", " in ", "longer", "heavier")) and any(
        ch.isdigit() for ch in lowered
    ):
        return "units"
    if any(ch.isdigit() for ch in lowered):
        return "math"
    if lowered.strip(" !.?") in ("hi", "hello", "thanks", "thank you", "good morning"):
        return "chitchat"
    return "docs"


def router(state: DemoState) -> dict[str, Any]:
    question = state["question"]
    return {"route": classify(question), "messages": [HumanMessage(question)]}


def _after_router(state: DemoState) -> str:
    return "answer" if state["route"] == "chitchat" else "planner"


def make_planner(model: DemoChatModel):
    def planner(state: DemoState, config: RunnableConfig) -> dict[str, Any]:
        prompt = [
            SystemMessage("You plan how to answer support questions. Route: " + state["route"]),
            HumanMessage(state["question"]),
        ]
        plan = model.invoke(prompt, config)
        return {"plan": str(plan.content)}

    return planner


def build_research_graph(model: DemoChatModel):
    """The ReAct loop: the model asks for tools until it can answer."""
    agent_model = model.bind_tools(TOOLS)

    def agent(state: ResearchState, config: RunnableConfig) -> dict[str, Any]:
        system = SystemMessage("You answer with the help of tools. Call tools, then answer.")
        return {"messages": [agent_model.invoke([system, *state["messages"]], config)]}

    builder = StateGraph(ResearchState)
    builder.add_node("agent", agent)
    builder.add_node("tools", ToolNode(TOOLS, handle_tool_errors=True))
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", tools_condition, {"tools": "tools", END: END})
    builder.add_edge("tools", "agent")
    return builder.compile(name="react_agent")


def extract(state: SummaryState) -> dict[str, Any]:
    """Collect the tool results and the agent's last words as notes."""
    notes = []
    for message in state.get("messages", []):
        if isinstance(message, ToolMessage):
            notes.append(f"{message.name}: {message.content}")
        elif isinstance(message, AIMessage) and message.content and not message.tool_calls:
            notes.append(str(message.content))
    return {"notes": notes[-4:]}


def make_compose(model: DemoChatModel):
    def compose(state: SummaryState, config: RunnableConfig) -> dict[str, Any]:
        prompt = [
            SystemMessage("Summarise the notes for the user in one or two sentences."),
            HumanMessage("\n".join(f"- {note}" for note in state.get("notes", []))),
        ]
        return {"answer": str(model.invoke(prompt, config).content)}

    return compose


def build_summary_graph(model: DemoChatModel):
    builder = StateGraph(SummaryState)
    builder.add_node("extract", extract)
    builder.add_node("compose", make_compose(model))
    builder.add_edge(START, "extract")
    builder.add_edge("extract", "compose")
    builder.add_edge("compose", END)
    return builder.compile(name="summarise")


def answer(state: DemoState) -> dict[str, Any]:
    if state.get("route") == "chitchat":
        text = "Hello! Ask me about maths, unit conversions or how SwisperStudio works."
    else:
        text = state.get("answer") or "I have no answer."
    return {"answer": text, "messages": [AIMessage(text)]}


def build_demo_graph(model_name: str = "swisper-demo-1"):
    """Compile the demo agent; the compiled graph's name is ``support_agent``."""
    builder = StateGraph(DemoState)
    builder.add_node("router", router)
    builder.add_node("planner", make_planner(DemoChatModel(model_name=model_name, role="planner")))
    builder.add_node("research", build_research_graph(DemoChatModel(model_name=model_name)))
    builder.add_node(
        "summarise", build_summary_graph(DemoChatModel(model_name=model_name, role="writer"))
    )
    builder.add_node("answer", answer)
    builder.add_edge(START, "router")
    builder.add_conditional_edges("router", _after_router, ["planner", "answer"])
    builder.add_edge("planner", "research")
    builder.add_edge("research", "summarise")
    builder.add_edge("summarise", "answer")
    builder.add_edge("answer", END)
    return builder.compile(name=GRAPH_NAME)
