"""Small real graphs shared by the instrumentation tests."""

from __future__ import annotations

import operator
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph


class Counter(TypedDict, total=False):
    x: int
    log: Annotated[list[str], operator.add]


def linear(n: int = 3, name: str = "linear") -> Any:
    """START -> n1 -> n2 ... -> END, each node adds 1 to x."""
    g = StateGraph(Counter)
    prev = START
    for i in range(1, n + 1):
        node = f"n{i}"
        g.add_node(node, lambda s, _n=node: {"x": s.get("x", 0) + 1, "log": [_n]})
        g.add_edge(prev, node)
        prev = node
    g.add_edge(prev, END)
    return g.compile(name=name)
