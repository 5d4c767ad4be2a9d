"""Alternative spellings of query parameters, mapped to the canonical names before validation.

Clients guess names (``search`` for ``q``, Langfuse's ``fromTimestamp`` for ``from``,
``sort=timestamp.asc`` for ``order=asc``). ``AliasRoute`` rewrites the query string of a
request to the canonical names of its route before FastAPI validates it, so each parameter
is declared once and validated once. An alias is only honoured on a route that declares its
canonical name; anything else stays unknown and answers 400 (see
``deps.reject_unknown_query_params``). The same parameter under two names with different
values is a conflict: 400 as well, raised after authentication.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import urlencode

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response

QUERY_ALIASES: dict[str, tuple[str, ...]] = {
    "q": ("search", "query", "name_contains"),
    "tag": ("tags",),
    "from": (
        "from_time",
        "from_timestamp",
        "fromTimestamp",
        "fromStartTime",
        "start_time",
        "since",
    ),
    "to": ("to_time", "to_timestamp", "toTimestamp", "toStartTime", "end_time", "until"),
    "session_id": ("sessionId", "session"),
    "user_id": ("userId", "user"),
    "trace_id": ("traceId", "trace"),
    "order": ("sort", "order_by", "orderBy"),
    "limit": ("page_size", "pageSize"),
}
"""Canonical name -> accepted alternative names (the one table of aliases)."""

CANONICAL: dict[str, str] = {
    alias: canonical for canonical, aliases in QUERY_ALIASES.items() for alias in aliases
}

LIST_PARAMS = frozenset({"tag"})
"""Repeatable parameters: values of all spellings add up, and ``a,b`` means ``a`` and ``b``."""

ORDER_SPELLINGS: dict[str, str] = {
    spelling: direction
    for direction, spellings in {
        "asc": ("asc", "start_time", "+start_time", "timestamp", "+timestamp"),
        "desc": ("desc", "-start_time", "-timestamp"),
    }.items()
    for spelling in spellings
} | {
    f"{field}{sep}{direction}": direction
    for field in ("start_time", "timestamp")
    for sep in (".", ":", " ")
    for direction in ("asc", "desc")
}
"""Accepted values of ``order`` (case-insensitive) -> ``asc`` / ``desc``."""

ALIAS_ERROR_KEY = "swisper_studio.alias_error"
NOTE_PREFIX = "Also accepted as"


class AliasConflictError(ValueError):
    """One parameter given under two names with different values."""


def _query_names(dependant: Dependant, names: set[str]) -> set[str]:
    for field in dependant.query_params:
        names.add(field.alias)
    for sub in dependant.dependencies:
        _query_names(sub, names)
    return names


def allowed_query_params(route: Any) -> frozenset[str]:
    """Canonical query parameter names a route declares (cached on the route object)."""
    cached = getattr(route, "_swisper_query_names", None)
    if cached is None:
        cached = frozenset(_query_names(route.dependant, set()))
        route._swisper_query_names = cached
    return cached


def accepted_names(allowed: frozenset[str]) -> str:
    """``cursor, from (or from_time, ...), limit (or page_size, ...)`` for error messages."""
    parts = []
    for name in sorted(allowed):
        aliases = QUERY_ALIASES.get(name)
        parts.append(f"{name} (or {', '.join(aliases)})" if aliases else name)
    return ", ".join(parts) or "none"


UPPER_CASE_VALUES = frozenset({"level", "type"})
"""Enumerations stored in upper case (``ERROR``, ``GENERATION``): any case is accepted."""


TIME_PARAMS = frozenset({"from", "to"})
# "...T10:00:00 02:00": a "+" offset sent unencoded in a URL arrives as a space.
_SPACED_OFFSET = re.compile(r"(T\d\d:\d\d(?::\d\d(?:\.\d+)?)?) (\d\d(?::?\d\d)?)$")


def _normalise(canonical: str, value: str) -> list[str]:
    if canonical in TIME_PARAMS:
        return [_SPACED_OFFSET.sub(r"\1+\2", value)]
    if canonical == "order":
        return [ORDER_SPELLINGS.get(value.strip().lower(), value)]
    if canonical in UPPER_CASE_VALUES:
        return [value.upper()]
    if canonical in LIST_PARAMS and "," in value:
        pieces = [piece.strip() for piece in value.split(",")]
        return [piece for piece in pieces if piece] or [value]
    return [value]


def canonical_items(items: list[tuple[str, str]], allowed: frozenset[str]) -> list[tuple[str, str]]:
    """The query's ``(name, value)`` pairs under canonical names, values normalised.

    Raises ``AliasConflictError`` when a single-valued parameter arrives under two spellings
    with different values. Repeats of one spelling are left as they are (FastAPI takes the
    last, as without aliases).
    """
    spelled: dict[str, dict[str, list[str]]] = {}
    out: list[tuple[str, str]] = []
    for key, value in items:
        canonical = CANONICAL.get(key, key)
        if canonical not in allowed:
            out.append((key, value))  # unknown: left for the 400
            continue
        values = _normalise(canonical, value)
        if canonical in LIST_PARAMS:
            out.extend((canonical, v) for v in values)
        else:
            spelled.setdefault(canonical, {}).setdefault(key, []).extend(values)
    for canonical, by_name in spelled.items():
        if len(by_name) > 1:
            finals = {name: values[-1] for name, values in by_name.items()}
            if len(set(finals.values())) > 1:
                given = ", ".join(f"{name}={value!r}" for name, value in finals.items())
                raise AliasConflictError(
                    f"conflicting values for parameter {canonical!r}: {given}; "
                    "give it once (these names are aliases)"
                )
            out.append((canonical, next(iter(finals.values()))))
        else:
            out.extend((canonical, v) for v in next(iter(by_name.values())))
    return out


def _needs_rewrite(items: list[tuple[str, str]]) -> bool:
    return any(
        key in CANONICAL
        or key == "order"
        or (key in UPPER_CASE_VALUES and not value.isupper())
        or (key in TIME_PARAMS and " " in value)
        or (key in LIST_PARAMS and "," in value)
        for key, value in items
    )


def apply_aliases(request: Request, allowed: frozenset[str]) -> None:
    """Rewrite the request's query string to canonical names (before validation)."""
    items = QueryParams(request.scope.get("query_string", b"")).multi_items()
    if not _needs_rewrite(items):
        return
    try:
        rewritten = canonical_items(items, allowed)
    except AliasConflictError as exc:
        request.scope[ALIAS_ERROR_KEY] = str(exc)
        return
    request.scope["query_string"] = urlencode(rewritten).encode("ascii")
    request.__dict__.pop("_query_params", None)  # Starlette caches the parsed query


def described(name: str, description: str) -> str:
    """``description`` plus "Also accepted as `alias`, ..." for a parameter's OpenAPI text."""
    aliases = QUERY_ALIASES.get(name)
    if not aliases:
        return description
    return f"{description} {NOTE_PREFIX} " + ", ".join(f"`{a}`" for a in aliases) + "."


class AliasRoute(APIRoute):
    """An ``APIRoute`` that accepts the aliases of ``QUERY_ALIASES`` for its parameters."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        allowed = allowed_query_params(self)

        async def handle_with_aliases(request: Request) -> Response:
            apply_aliases(request, allowed)
            return await handler(request)

        return handle_with_aliases
