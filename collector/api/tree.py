"""Span tree of one trace: parents before children, siblings in start order.

Spans whose parent is not stored (not arrived yet, or from another trace) are roots, so a
trace is browsable while it is still arriving. Malformed parent links (a span naming itself,
or a cycle) cannot loop: every span is placed exactly once.
"""

from __future__ import annotations

from typing import Any

Row = dict[str, Any]


def _start_key(row: Row) -> tuple[Any, str]:
    return (row["start_time"], row["id"])


def build_tree(rows: list[Row]) -> tuple[list[Row], list[Row]]:
    """Return ``(flat, tree)``.

    ``flat`` is every row once in start order (a parent before a child that starts in the
    same microsecond), each with a ``depth`` key;
    ``tree`` is the list of root nodes, each ``{..., "depth", "children": [...]}`` holding
    the node fields of ``ObservationNode`` (no payloads, so the tree stays small).
    """
    by_id = {row["id"]: row for row in rows}
    children: dict[str | None, list[Row]] = {}
    for row in rows:
        parent = row.get("parent_observation_id")
        if parent not in by_id or parent == row["id"]:
            parent = None
        children.setdefault(parent, []).append(row)
    for siblings in children.values():
        siblings.sort(key=_start_key)

    flat: list[Row] = []
    placed: set[str] = set()
    roots: list[Row] = []
    pending_roots = list(children.get(None, []))
    # Rows caught in a parent cycle have no path from a root: make the earliest one a root.
    leftovers = sorted(rows, key=_start_key)
    while True:
        for root in pending_roots:
            roots.append(_place(root, 0, children, flat, placed))
        unplaced = [row for row in leftovers if row["id"] not in placed]
        if not unplaced:
            break
        pending_roots = [unplaced[0]]
    flat.sort(key=lambda row: (row["start_time"], row["depth"], row["id"]))
    return flat, roots


def _node(row: Row, depth: int) -> Row:
    return {
        "id": row["id"],
        "name": row["name"],
        "type": row["type"],
        "start_time": row["start_time"],
        "end_time": row["end_time"],
        "duration_ms": row["duration_ms"],
        "level": row["level"],
        "running": row["running"],
        "depth": depth,
        "children": [],
    }


def _place(
    root: Row, depth: int, children: dict[str | None, list[Row]], flat: list[Row], placed: set[str]
) -> Row:
    """Depth-first placement without recursion (deep traces must not hit the stack limit)."""
    root_node = _node(root, depth)
    root["depth"] = depth
    flat.append(root)
    placed.add(root["id"])
    stack: list[tuple[Row, Row]] = [(root, root_node)]
    while stack:
        row, node = stack.pop()
        kids = [kid for kid in children.get(row["id"], []) if kid["id"] not in placed]
        # Visit in start order: push reversed; record placement at push to keep pre-order.
        for kid in kids:
            placed.add(kid["id"])
        kid_nodes = []
        for kid in kids:
            kid["depth"] = node["depth"] + 1
            kid_node = _node(kid, node["depth"] + 1)
            node["children"].append(kid_node)
            kid_nodes.append((kid, kid_node))
        stack.extend(reversed(kid_nodes))
        if row is not root:
            flat.append(row)
    return root_node
