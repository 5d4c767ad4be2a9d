"""The demo agent behind ``swisper-studio demo`` and ``swisper-studio up --demo``.

A realistic LangGraph agent (router -> planner -> ReAct agent with real tools -> summarise
subgraph -> answer) driven by a fake, deterministic chat model, so the Studio fills with traces
that look like production traffic without any API key or network access.
"""

from __future__ import annotations

import logging

from swisper_studio.demo.graph import GRAPH_NAME, GuardrailViolation, build_demo_graph
from swisper_studio.demo.model import DemoChatModel
from swisper_studio.demo.runner import (
    QUESTIONS,
    USERS,
    DemoSummary,
    RunOutcome,
    RunSpec,
    run_demo,
    run_specs,
)

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "GRAPH_NAME",
    "QUESTIONS",
    "USERS",
    "DemoChatModel",
    "DemoSummary",
    "GuardrailViolation",
    "RunOutcome",
    "RunSpec",
    "build_demo_graph",
    "run_demo",
    "run_specs",
]
