"""Model, tool and retriever events taken from LangChain's callback managers, not as a handler.

A callback *handler* would sit in every callback manager of a graph run and LangChain would
dispatch every node's chain start/end to it (measured: ~25 µs per 5-node invoke even when the
handler ignores chains). Instead, the few manager methods that start a model, tool or retriever
run (``CallbackManager.on_chat_model_start`` ... and their async twins) and the run-manager
methods that end them are wrapped; each hook calls the matching ``SpanCallbackHandler`` method
with the same arguments LangChain would have given a handler. Chain events cost nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

MANAGER_MODULE = "langchain_core.callbacks.manager"

# (manager class, method, name of the second positional argument, one run per batch item)
START_METHODS = (
    ("CallbackManager", "on_chat_model_start", "messages", True),
    ("CallbackManager", "on_llm_start", "prompts", True),
    ("CallbackManager", "on_tool_start", "input_str", False),
    ("CallbackManager", "on_retriever_start", "query", False),
)
RUN_METHODS = (
    ("CallbackManagerForLLMRun", ("on_llm_new_token", "on_llm_end", "on_llm_error")),
    ("CallbackManagerForToolRun", ("on_tool_end", "on_tool_error")),
    ("CallbackManagerForRetrieverRun", ("on_retriever_end", "on_retriever_error")),
)


def targets() -> list[tuple[str, Any, bool]]:
    """``(dotted name in MANAGER_MODULE, hook info, is_async)`` for every method to wrap."""
    out: list[tuple[str, Any, bool]] = []
    for cls, method, second, multi in START_METHODS:
        out.append((f"{cls}.{method}", ("start", method, second, multi), False))
        out.append((f"Async{cls}.{method}", ("start", method, second, multi), True))
    for cls, methods in RUN_METHODS:
        for method in methods:
            out.append((f"{cls}.{method}", ("run", method), False))
            out.append((f"Async{cls}.{method}", ("run", method), True))
    return out


def make_hook(handler: Any, info: tuple[Any, ...], is_async: bool) -> Callable[..., Any]:
    if info[0] == "start":
        _, method, second, multi = info
        return _start_hook(getattr(handler, method), second, multi, is_async)
    return _run_hook(getattr(handler, info[1]), is_async)


def _start_hook(
    method: Callable[..., None], second: str, multi: bool, is_async: bool
) -> Callable[..., Any]:
    def dispatch(manager: Any, result: Any, args: Any, kwargs: Any) -> None:
        try:
            serialized = args[0] if args else kwargs.get("serialized")
            first = args[1] if len(args) > 1 else kwargs.get(second)
            extra = {k: v for k, v in kwargs.items() if k not in _RESERVED}
            extra["parent_run_id"] = manager.parent_run_id
            extra["tags"] = manager.tags
            extra["metadata"] = manager.metadata
            if multi:
                for run_manager, item in zip(result, first or (), strict=False):
                    method(serialized, [item], run_id=run_manager.run_id, **extra)
            else:
                method(serialized, first, run_id=result.run_id, **extra)
        except Exception:
            logger.debug("span start hook failed", exc_info=True)

    if is_async:

        async def ahook(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
            result = await wrapped(*args, **kwargs)
            dispatch(instance, result, args, kwargs)
            return result

        return ahook

    def hook(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        result = wrapped(*args, **kwargs)
        dispatch(instance, result, args, kwargs)
        return result

    return hook


_RESERVED = frozenset({"serialized", "messages", "prompts", "input_str", "query", "run_id"})
_RESERVED |= {"parent_run_id", "tags", "metadata"}


def _run_hook(method: Callable[..., None], is_async: bool) -> Callable[..., Any]:
    def dispatch(run_manager: Any, args: Any, kwargs: Any) -> None:
        try:
            method(*args, **{**kwargs, "run_id": run_manager.run_id})
        except Exception:
            logger.debug("span end hook failed", exc_info=True)

    if is_async:

        async def ahook(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
            dispatch(instance, args, kwargs)
            return await wrapped(*args, **kwargs)

        return ahook

    def hook(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        dispatch(instance, args, kwargs)
        return wrapped(*args, **kwargs)

    return hook
