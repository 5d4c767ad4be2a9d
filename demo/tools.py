"""The demo agent's tools: real code with real results (and real errors), no network.

- ``calculator``: arithmetic through a whitelisted AST walk (never ``eval``).
- ``convert_units``: length, mass, temperature and time conversions.
- ``search_docs``: term-overlap search over a small in-memory corpus about SwisperStudio.
"""

from __future__ import annotations

import ast
import logging
import math
import operator
import re

from langchain_core.tools import tool

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}
_FUNCTIONS = {"sqrt": math.sqrt, "round": round, "abs": abs}


def evaluate(expression: str) -> float:
    """Evaluate an arithmetic expression (numbers, + - * / // % **, sqrt/round/abs)."""
    tree = ast.parse(expression.strip(), mode="eval")
    return _eval_node(tree.body)


def _eval_node(node: ast.AST) -> float:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
        return node.value
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval_node(node.left), _eval_node(node.right)
        if isinstance(node.op, ast.Pow) and abs(right) > 100:
            raise ValueError("exponent too large")
        return _BINARY[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_eval_node(node.operand))
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _FUNCTIONS
        and not node.keywords
    ):
        return _FUNCTIONS[node.func.id](*(_eval_node(arg) for arg in node.args))
    raise ValueError(f"unsupported expression element: {ast.dump(node)[:60]}")


# factor to the base unit of each dimension (metre, kilogram, second)
_LINEAR_UNITS = {
    "m": ("length", 1.0),
    "km": ("length", 1000.0),
    "cm": ("length", 0.01),
    "mi": ("length", 1609.344),
    "ft": ("length", 0.3048),
    "in": ("length", 0.0254),
    "kg": ("mass", 1.0),
    "g": ("mass", 0.001),
    "lb": ("mass", 0.45359237),
    "oz": ("mass", 0.028349523125),
    "s": ("time", 1.0),
    "min": ("time", 60.0),
    "h": ("time", 3600.0),
    "day": ("time", 86400.0),
}
_ALIASES = {
    "miles": "mi",
    "mile": "mi",
    "kilometres": "km",
    "kilometers": "km",
    "metres": "m",
    "meters": "m",
    "feet": "ft",
    "foot": "ft",
    "inches": "in",
    "pounds": "lb",
    "pound": "lb",
    "kilograms": "kg",
    "grams": "g",
    "ounces": "oz",
    "hours": "h",
    "minutes": "min",
    "seconds": "s",
    "days": "day",
    "celsius": "c",
    "fahrenheit": "f",
    "kelvin": "k",
}


def normalise_unit(unit: str) -> str:
    unit = unit.strip().lower().rstrip(".")
    return _ALIASES.get(unit, unit)


def convert(value: float, from_unit: str, to_unit: str) -> float:
    """Convert ``value`` between two units of the same dimension (raises ValueError otherwise)."""
    src, dst = normalise_unit(from_unit), normalise_unit(to_unit)
    if src in ("c", "f", "k") and dst in ("c", "f", "k"):
        return _from_kelvin(_to_kelvin(value, src), dst)
    if src not in _LINEAR_UNITS or dst not in _LINEAR_UNITS:
        unknown = src if src not in _LINEAR_UNITS else dst
        raise ValueError(f"unknown unit {unknown!r}")
    (src_dim, src_factor), (dst_dim, dst_factor) = _LINEAR_UNITS[src], _LINEAR_UNITS[dst]
    if src_dim != dst_dim:
        raise ValueError(f"cannot convert {src_dim} ({src}) to {dst_dim} ({dst})")
    return value * src_factor / dst_factor


def _to_kelvin(value: float, unit: str) -> float:
    return {"c": value + 273.15, "f": (value - 32) * 5 / 9 + 273.15, "k": value}[unit]


def _from_kelvin(value: float, unit: str) -> float:
    return {"c": value - 273.15, "f": (value - 273.15) * 9 / 5 + 32, "k": value}[unit]


DOCUMENTS: dict[str, str] = {
    "exporter": (
        "RedisStreamSpanProcessor encodes each span start and end and puts it on a bounded "
        "queue; a background publisher thread sends pipelined XADD batches with MAXLEN. The "
        "application thread never blocks and never sees an exception; drops are counted."
    ),
    "collector": (
        "The collector reads the stream with XREADGROUP in a consumer group, folds span start "
        "and end events, upserts traces and observations in PostgreSQL and acknowledges with "
        "XACK after commit. Entries of a crashed consumer are reclaimed with XAUTOCLAIM."
    ),
    "dead-letter": (
        "An entry that fails more than max_deliveries times is copied to the dead-letter "
        "stream and acknowledged, so one bad event never blocks the pipeline."
    ),
    "sessions": (
        "A session groups the traces of one conversation: session.id comes from "
        "configurable.thread_id and user.id from metadata.user_id."
    ),
    "retention": (
        "Size the stream with MAXLEN so that it holds at least the longest collector outage "
        "you want to survive; old traces are removed by time-based retention in PostgreSQL."
    ),
    "scaling": (
        "Run several collectors in one consumer group with unique consumer names; shard the "
        "stream over several keys with hash tags for Redis Cluster."
    ),
}

_WORD = re.compile(r"[a-z0-9_]+")


def search(query: str, limit: int = 2) -> list[tuple[str, float]]:
    """Rank documents by overlap with the query's terms; best first, only positive scores."""
    terms = set(_WORD.findall(query.lower()))
    scored = []
    for doc_id, text in DOCUMENTS.items():
        words = _WORD.findall(text.lower()) + doc_id.split("-")
        hits = sum(1 for word in words if word in terms)
        if hits:
            scored.append((doc_id, round(hits / math.sqrt(len(words)), 3)))
    scored.sort(key=lambda item: (-item[1], item[0]))
    return scored[:limit]


@tool
def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression such as '(17.5 * 4) + 12' and return the result."""
    result = evaluate(expression)
    return f"{expression} = {result:g}"


@tool
def convert_units(value: float, from_unit: str, to_unit: str) -> str:
    """Convert a value between units, e.g. 42 km to mi, 70 f to c, 3 h to min."""
    result = convert(value, from_unit, to_unit)
    return f"{value:g} {from_unit} = {result:.6g} {to_unit}"


@tool
def search_docs(query: str) -> str:
    """Search the SwisperStudio documentation and return the best matching passages."""
    hits = search(query)
    if not hits:
        return "no matching documents"
    return "\n".join(f"[{doc_id}] {DOCUMENTS[doc_id]}" for doc_id, _ in hits)


TOOLS = [calculator, convert_units, search_docs]
