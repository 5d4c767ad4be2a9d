"""``LangGraphInstrumentor``: the OTel ``BaseInstrumentor`` behind ``instrument_langgraph()``.

It installs wrapt wrappers on LangGraph's execution points (graph entry points and the
per-task runner, see ``_graph.py``) and injects one inheritable callback handler into every
LangChain callback manager for model / tool / retriever spans (see ``_tracer.py``).
``_uninstrument`` removes every wrapper and restores ``BaseCallbackManager.__init__``.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

from opentelemetry import trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from opentelemetry.instrumentation.utils import unwrap
from wrapt import wrap_function_wrapper

from . import _graph
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


class _CallbackManagerInit:
    """Replaces ``BaseCallbackManager.__init__``: adds our handler once, inheritable."""

    __slots__ = ("_handler",)

    def __init__(self, handler: Any) -> None:
        self._handler = handler

    def __call__(self, wrapped: Any, instance: Any, args: Any, kwargs: Any) -> None:
        wrapped(*args, **kwargs)
        handler_type = type(self._handler)
        for existing in instance.inheritable_handlers:
            if type(existing) is handler_type:
                return
        instance.add_handler(self._handler, True)


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
            __name__, __version__, tracer_provider=kwargs.get("tracer_provider")
        )
        graph_tracer = _graph.GraphTracer(tracer, encoder if capture else None)

        from ._tracer import SpanCallbackHandler

        handler = SpanCallbackHandler(graph_tracer.active_tracer, graph_tracer.encoder)
        for name, factory in _PREGEL_METHODS:
            wrap_function_wrapper(_PREGEL_MODULE, name, factory(graph_tracer))
        for name, factory in _RUNNER_FUNCTIONS:
            wrap_function_wrapper(_RUNNER_MODULE, name, factory(graph_tracer))
        wrap_function_wrapper(
            "langchain_core.callbacks",
            "BaseCallbackManager.__init__",
            _CallbackManagerInit(handler),
        )

    def _uninstrument(self, **kwargs: Any) -> None:
        import importlib

        from langchain_core.callbacks import BaseCallbackManager

        pregel = importlib.import_module(_PREGEL_MODULE).Pregel
        runner = importlib.import_module(_RUNNER_MODULE)
        for name, _ in _PREGEL_METHODS:
            unwrap(pregel, name.split(".", 1)[1])
        for name, _ in _RUNNER_FUNCTIONS:
            unwrap(runner, name)
        unwrap(BaseCallbackManager, "__init__")
