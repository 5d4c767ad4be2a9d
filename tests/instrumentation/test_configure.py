"""configure(): one call from no OTel pipeline to spans in a real Redis stream."""

from __future__ import annotations

import redis
from lg_graphs import linear
from servers import wait_for
from swisper_studio.exporter.wire import SpanEvent, decode_entry
from swisper_studio.instrumentation import configure, uninstrument_langgraph


def test_configure_publishes_graph_spans_to_redis(redis_url, stream_name):
    uninstrument_langgraph()
    provider = configure(
        redis_url=redis_url,
        stream_name=stream_name,
        project_id="proj-1",
        service_name="svc",
        set_global=False,
    )
    try:
        linear(2, name="configured").invoke({"x": 0}, {"configurable": {"thread_id": "s-1"}})
        assert provider.force_flush(5000)
        client = redis.Redis.from_url(redis_url)

        def ends() -> list[SpanEvent]:
            events = [decode_entry(f) for _, f in client.xrange(stream_name)]
            return [e for e in events if isinstance(e, SpanEvent) and e.type == "span_end"]

        wait_for(lambda: len(ends()) == 3, timeout=10, what="three span_end events")
        by_name = {e.name: e for e in ends()}
        root = by_name["configured"]
        assert root.project_id == "proj-1"
        assert root.parent_span_id is None
        assert root.attributes["session.id"] == "s-1"
        assert root.resource["attributes"]["service.name"] == "svc"
        for node in ("n1", "n2"):
            assert by_name[node].parent_span_id == root.span_id
            assert by_name[node].trace_id == root.trace_id
            assert by_name[node].attributes["langgraph.node"] == node
        client.close()
    finally:
        uninstrument_langgraph()
        provider.shutdown()


def test_configure_set_global_false_leaves_the_global_provider(redis_url, stream_name):
    from opentelemetry import trace

    before = trace.get_tracer_provider()
    uninstrument_langgraph()
    provider = configure(redis_url=redis_url, stream_name=stream_name, set_global=False)
    try:
        assert trace.get_tracer_provider() is before
    finally:
        uninstrument_langgraph()
        provider.shutdown()


def test_configure_disabled_leaves_langgraph_uninstrumented(redis_url, stream_name, monkeypatch):
    from langgraph.pregel import Pregel

    monkeypatch.setenv("SWISPER_STUDIO_ENABLED", "false")
    uninstrument_langgraph()
    provider = configure(redis_url=redis_url, stream_name=stream_name, set_global=False)
    try:
        assert not hasattr(Pregel.invoke, "__wrapped__")
        linear(1).invoke({"x": 0})
        assert redis.Redis.from_url(redis_url).xlen(stream_name) == 0
    finally:
        provider.shutdown()


_GLOBAL_SCRIPT = """
import sys
from opentelemetry import trace
from swisper_studio.instrumentation import configure

provider = configure(redis_url=sys.argv[1], stream_name=sys.argv[2])
assert trace.get_tracer_provider() is provider, "configure() did not set the global provider"
with trace.get_tracer("user-code").start_as_current_span("user-span"):
    pass
assert provider.force_flush(5000)
second = configure(redis_url=sys.argv[1], stream_name=sys.argv[2])
assert trace.get_tracer_provider() is provider, "an existing global provider was replaced"
second.shutdown()
provider.shutdown()
"""


def test_configure_sets_the_global_provider_when_the_app_has_none(redis_url, stream_name):
    """An app with no OTel pipeline: spans started via trace.get_tracer() reach Redis too."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", _GLOBAL_SCRIPT, redis_url, stream_name],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    names = [decode_entry(f).name for _, f in redis.Redis.from_url(redis_url).xrange(stream_name)]
    assert "user-span" in names
