"""``LangGraphInstrumentor``: the OTel ``BaseInstrumentor`` behind ``instrument_langgraph()``.

It installs wrapt wrappers on LangGraph's execution points (graph entry points and the
per-task runner, see ``_graph.py``) and on the LangChain callback-manager methods that start
and end model / tool / retriever runs (``_callbacks.py``), which feed ``SpanCallbackHandler``
(``_tracer.py``). ``_uninstrument`` removes every wrapper.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Collection
from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from opentelemetry.instrumentation.utils import unwrap
from wrapt import wrap_function_wrapper

from . import _callbacks, _graph
from ._payload import DEFAULT_MAX_PAYLOAD_BYTES, PayloadEncoder, default_redact
from .package import _instruments
from .version import __version__

logger = logging.getLogger(__name__)
logger.addHandler(logging.NullHandler())

_PREGEL_MODULE = "langgraph.pregel.main"
_RUNNER_MODULE = "langgraph.pregel._runner"
_PREGEL_METHODS = (
    ("Pregel.invoke", _graph.invoke_wrapper),
    ("Pregel.ainvoke", _graph.ainvoke_wrapper),
    ("Pregel.stream", _graph.stream_wrapper),
    ("Pregel.astream", _graph.astream_wrapper),
)
_RUNNER_FUNCTIONS = (
    ("run_with_retry", _graph.run_task_wrapper),
    ("arun_with_retry", _graph.arun_task_wrapper),
)


_GRAPH_CALLBACKS_MODULE = "langgraph.callbacks"  # graph lifecycle: on_interrupt / on_resume
_GRAPH_CONFIGURE = "_configure_graph_callbacks"


class _GraphCallbacksHook:
    """Adds our handler to LangGraph's graph-lifecycle callback manager (one per invoke), so
    ``on_interrupt`` / ``on_resume`` reach it; the manager carries no chain events."""

    __slots__ = ("_handler",)

    def __init__(self, handler: Any) -> None:
        self._handler = handler

    def __call__(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        manager = wrapped(*args, **kwargs)
        try:
            if self._handler not in manager.inheritable_handlers:  # identity scan, C speed
                manager.add_handler(self._handler, True)
        except Exception:
            logger.debug("could not add the span handler to a graph callback manager")
        return manager


class LangGraphInstrumentor(BaseInstrumentor):
    """Traces LangGraph runs, nodes, chat models, tools and retrievers as OTel spans.

    ``instrument(tracer_provider=None, capture_payloads=True, max_payload_bytes=32768,
    redact=default_redact)``; ``uninstrument()`` restores everything.
    """

    def instrumentation_dependencies(self) -> Collection[str]:
        return _instruments

    def _instrument(self, **kwargs: Any) -> None:
        capture = kwargs.get("capture_payloads", True)
        max_bytes = kwargs.get("max_payload_bytes", DEFAULT_MAX_PAYLOAD_BYTES)
        redact = kwargs.get("redact", default_redact)
        encoder = PayloadEncoder(max_bytes, redact)  # validates before anything is wrapped
        tracer = trace.get_tracer(
            "swisper_studio.instrumentation",
            __version__,
            tracer_provider=kwargs.get("tracer_provider"),
        )
        graph_tracer = _graph.GraphTracer(tracer, encoder if capture else None)

        from ._tracer import SpanCallbackHandler

        handler = SpanCallbackHandler(graph_tracer.active_tracer, graph_tracer.encoder)
        for name, factory in _PREGEL_METHODS:
            wrap_function_wrapper(_PREGEL_MODULE, name, factory(graph_tracer))
        for name, factory in _RUNNER_FUNCTIONS:
            wrap_function_wrapper(_RUNNER_MODULE, name, factory(graph_tracer))
        for name, info, is_async in _callbacks.targets():
            hook = _callbacks.make_hook(handler, info, is_async)
            wrap_function_wrapper(_callbacks.MANAGER_MODULE, name, hook)
        graph_callbacks = _optional_module(_GRAPH_CALLBACKS_MODULE)
        if graph_callbacks is not None and callable(
            getattr(graph_callbacks, _GRAPH_CONFIGURE, None)
        ):
            wrap_function_wrapper(
                _GRAPH_CALLBACKS_MODULE, _GRAPH_CONFIGURE, _GraphCallbacksHook(handler)
            )

    def _uninstrument(self, **kwargs: Any) -> None:
        manager_module = importlib.import_module(_callbacks.MANAGER_MODULE)
        pregel = importlib.import_module(_PREGEL_MODULE).Pregel
        runner = importlib.import_module(_RUNNER_MODULE)
        for name, _ in _PREGEL_METHODS:
            unwrap(pregel, name.split(".", 1)[1])
        for name, _ in _RUNNER_FUNCTIONS:
            unwrap(runner, name)
        for name, _, _ in _callbacks.targets():
            cls_name, method = name.split(".")
            unwrap(getattr(manager_module, cls_name), method)
        graph_callbacks = _optional_module(_GRAPH_CALLBACKS_MODULE)
        if graph_callbacks is not None:
            unwrap(graph_callbacks, _GRAPH_CONFIGURE)


def _optional_module(name: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError:
        return None
