"""RedisStreamSpanProcessor against a real Redis: content, order, threads, flush, shutdown."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest
import redis
from exporter_support import read_events, stream_length
from opentelemetry import context
from opentelemetry import trace as trace_api
from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind, Status, StatusCode
from swisper_studio.exporter import wire

PUBLISHER_THREAD = "SwisperStudioPublisher"


def _by_type(events, span_id: str, event_type: str):
    return [e for e in events if e.span_id == span_id and e.type == event_type]


def test_events_decode_to_exactly_what_the_spans_held(
    make_processor, tracer_for, redis_url, stream_name, monkeypatch
):
    monkeypatch.setenv("OTEL_SERVICE_NAME", "checkout-agent")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test,team=ml")
    processor = make_processor(project_id="proj-42")
    tracer = tracer_for(processor, resource=Resource.create())
    link_target = trace_api.SpanContext(
        trace_id=0xABC, span_id=0xDEF, is_remote=True, trace_flags=trace_api.TraceFlags(1)
    )
    start_attributes = {"s": "text", "i": 7, "f": 1.5, "b": True, "l": ["x", "y"], "n": [1, 2]}
    links = [Link(link_target, {"why": "retry"})]
    with (
        tracer.start_as_current_span("graph", kind=SpanKind.SERVER) as root,
        tracer.start_as_current_span("node", attributes=start_attributes, links=links) as child,
    ):
        child.set_attribute("late", "set after start")
        child.add_event("checkpoint", {"step": 3}, timestamp=1_700_000_000_000_000_123)
        child.set_status(Status(StatusCode.ERROR, "boom"))

    assert processor.force_flush(5000)
    events = read_events(redis_url, stream_name)
    root_ctx, child_ctx = root.get_span_context(), child.get_span_context()
    root_id, child_id = f"{root_ctx.span_id:016x}", f"{child_ctx.span_id:016x}"

    [start] = _by_type(events, child_id, wire.SPAN_START)
    assert start.project_id == "proj-42"
    assert start.trace_id == f"{child_ctx.trace_id:032x}"
    assert start.parent_span_id == root_id
    assert start.name == "node"
    assert start.kind == "INTERNAL"
    assert start.start_time_unix_nano == child.start_time
    assert start.end_time_unix_nano is None
    assert start.attributes == start_attributes  # lists come back as lists, "late" not yet set
    assert start.scope == {"name": "tests.exporter", "version": "1.2.3", "schema_url": None}

    [end] = _by_type(events, child_id, wire.SPAN_END)
    assert end.attributes == {**start_attributes, "late": "set after start"}
    assert (end.start_time_unix_nano, end.end_time_unix_nano) == (child.start_time, child.end_time)
    assert (end.status_code, end.status_message) == ("ERROR", "boom")
    event_time = 1_700_000_000_000_000_123
    assert end.events == [
        {"name": "checkpoint", "time_unix_nano": event_time, "attributes": {"step": 3}}
    ]
    assert end.links == [
        {"trace_id": f"{0xABC:032x}", "span_id": f"{0xDEF:016x}", "attributes": {"why": "retry"}}
    ]
    resource = end.resource["attributes"]
    assert resource["service.name"] == "checkout-agent"
    assert resource["deployment.environment"] == "test"
    assert resource["team"] == "ml"
    assert start.resource == end.resource

    [root_end] = _by_type(events, root_id, wire.SPAN_END)
    assert root_end.parent_span_id is None
    assert root_end.kind == "SERVER"
    assert root_end.status_code == "UNSET"
    assert len(events) == 4


def test_start_precedes_end_for_every_span(make_processor, tracer_for, redis_url, stream_name):
    processor = make_processor(max_batch_size=7)  # several batches, so order crosses them
    tracer = tracer_for(processor)
    for _ in range(20):
        with tracer.start_as_current_span("outer"):
            for _ in range(3):
                with tracer.start_as_current_span("inner"):
                    pass
    assert processor.force_flush(5000)
    events = read_events(redis_url, stream_name)
    assert len(events) == 20 * 4 * 2
    position = {(e.span_id, e.type): i for i, e in enumerate(events)}
    for span_id in {e.span_id for e in events}:
        assert position[(span_id, wire.SPAN_START)] < position[(span_id, wire.SPAN_END)]


def test_no_redis_call_and_no_encoding_on_the_callers_thread(
    make_processor, tracer_for, monkeypatch
):
    calls: list[tuple[str, str, bool]] = []

    def record(kind, original):
        def wrapper(*args, **kwargs):
            suppressed = bool(context.get_value(_SUPPRESS_INSTRUMENTATION_KEY))
            calls.append((kind, threading.current_thread().name, suppressed))
            return original(*args, **kwargs)

        return wrapper

    # Every byte redis-py sends goes through Connection.send_packed_command.
    send = redis.connection.Connection.send_packed_command
    monkeypatch.setattr(redis.connection.Connection, "send_packed_command", record("io", send))
    monkeypatch.setattr(wire, "encode_span_start", record("encode", wire.encode_span_start))
    monkeypatch.setattr(wire, "encode_span_end", record("encode", wire.encode_span_end))
    processor = make_processor()
    tracer = tracer_for(processor)
    for _ in range(50):
        with tracer.start_as_current_span("work"):
            pass
    assert processor.force_flush(5000)
    assert processor.stats()["published"] == 100
    assert {kind for kind, _, _ in calls} == {"io", "encode"}
    assert {thread for _, thread, _ in calls} == {PUBLISHER_THREAD}
    # ... and instrumentation is suppressed around them, so they are never traced.
    assert all(suppressed for _, _, suppressed in calls)


def test_force_flush_delivers_everything_queued(make_processor, tracer_for, redis_url, stream_name):
    # A one-minute schedule delay and a large batch: only force_flush can send these now.
    processor = make_processor(schedule_delay_millis=60_000, max_batch_size=4096)
    tracer = tracer_for(processor)
    for _ in range(300):
        with tracer.start_as_current_span("work"):
            pass
    assert processor.force_flush(5000) is True
    assert stream_length(redis_url, stream_name) == 600
    assert processor.stats()["published"] == 600


def test_shutdown_publishes_what_is_queued_and_twice_is_harmless(
    make_processor, tracer_for, redis_url, stream_name
):
    threads_before = len(_publisher_threads())
    processor = make_processor(schedule_delay_millis=60_000, max_batch_size=4096)
    tracer = tracer_for(processor)
    assert len(_publisher_threads()) == threads_before + 1
    for _ in range(10):
        with tracer.start_as_current_span("work"):
            pass
    processor.shutdown()
    assert stream_length(redis_url, stream_name) == 20
    assert len(_publisher_threads()) == threads_before
    processor.shutdown()
    processor.shutdown(timeout_millis=0)
    with tracer.start_as_current_span("after shutdown"):  # dropped, counted, nothing raised
        pass
    stats = processor.stats()
    assert stats["dropped"]["shutdown"] == 2
    assert stats["shutdown"] is True
    assert processor.force_flush(100) is False
    assert stream_length(redis_url, stream_name) == 20


def _publisher_threads():
    return [t for t in threading.enumerate() if t.name == PUBLISHER_THREAD]


class _RecordOnly(Sampler):
    """Records spans without sampling them: processors see them, exporters must not."""

    def should_sample(self, *args, **kwargs) -> SamplingResult:
        return SamplingResult(Decision.RECORD_ONLY)

    def get_description(self) -> str:
        return "RecordOnly"


def test_unsampled_spans_are_not_published(make_processor, tracer_for, redis_url, stream_name):
    processor = make_processor()
    tracer = tracer_for(processor, sampler=_RecordOnly())
    with tracer.start_as_current_span("not sampled") as span:
        assert span.is_recording()
    assert processor.force_flush(5000)
    assert stream_length(redis_url, stream_name) == 0
    assert processor.stats()["enqueued"] == 0


@pytest.mark.parametrize(
    ("variable", "value"), [("SWISPER_STUDIO_ENABLED", "false"), ("OTEL_SDK_DISABLED", "true")]
)
def test_disabled_processor_is_a_noop_without_a_thread(
    make_processor, tracer_for, redis_url, stream_name, monkeypatch, variable, value
):
    monkeypatch.setenv(variable, value)
    before = len(_publisher_threads())
    processor = make_processor()
    tracer = tracer_for(processor)
    with tracer.start_as_current_span("ignored"):
        pass
    assert processor.force_flush(1000)
    assert processor.stats()["enabled"] is False
    assert len(_publisher_threads()) == before
    assert stream_length(redis_url, stream_name) == 0


def test_hooks_never_raise_on_broken_input(make_processor):
    processor = make_processor()
    processor.on_start(object())  # no .context at all
    processor.on_end(None)
    assert processor.stats()["enqueued"] == 0


class _Unencodable:
    """Looks sampled, so it is queued, but cannot be encoded (no name, no times...)."""

    class context:
        class trace_flags:
            sampled = True


def test_an_event_that_cannot_be_encoded_is_dropped_and_counted(
    make_processor, tracer_for, redis_url, stream_name
):
    processor = make_processor()
    tracer = tracer_for(processor)
    processor.on_end(_Unencodable())
    with tracer.start_as_current_span("fine"):
        pass
    assert processor.force_flush(5000) is False  # an event queued before the flush was lost
    stats = processor.stats()
    assert stats["dropped"]["encode_error"] == 1
    assert stats["published"] == 2
    assert [e.name for e in read_events(redis_url, stream_name)] == ["fine", "fine"]
    assert processor.force_flush(5000) is True  # nothing lost since


def test_stream_is_capped_with_approximate_maxlen(
    make_processor, tracer_for, redis_url, stream_name
):
    processor = make_processor(max_stream_length=100)
    tracer = tracer_for(processor)
    for _ in range(1000):
        with tracer.start_as_current_span("work"):
            pass
    assert processor.force_flush(10_000)
    length = stream_length(redis_url, stream_name)
    assert 100 <= length < 400  # MAXLEN ~ trims whole macro nodes, never below the cap
    assert processor.stats()["published"] == 2000


def test_many_threads_publish_every_event(make_processor, tracer_for, redis_url, stream_name):
    processor = make_processor(max_batch_size=64)
    tracer = tracer_for(processor)

    def work():
        for _ in range(200):
            with tracer.start_as_current_span("work"):
                pass

    workers = [threading.Thread(target=work) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert processor.force_flush(10_000)
    assert stream_length(redis_url, stream_name) == 4 * 200 * 2


EXITING_APP = """
import sys
from opentelemetry.sdk.trace import TracerProvider
from swisper_studio.exporter import RedisStreamSpanProcessor

processor = RedisStreamSpanProcessor(
    redis_url=sys.argv[1], stream_name=sys.argv[2], schedule_delay_millis=600_000
)
provider = TracerProvider(shutdown_on_exit=False)  # only the processor's own atexit flushes
provider.add_span_processor(processor)
for _ in range(25):
    with provider.get_tracer("app").start_as_current_span("work"):
        pass
"""


def test_events_queued_at_interpreter_exit_are_flushed(redis_url, stream_name, tmp_path):
    script = tmp_path / "exiting_app.py"
    script.write_text(EXITING_APP)
    done = subprocess.run(
        [sys.executable, str(script), redis_url, stream_name],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert stream_length(redis_url, stream_name) == 50


def test_a_big_batch_is_written_in_chunks_in_order_and_lets_other_threads_run(
    make_processor, tracer_for, redis_url, stream_name, monkeypatch
):
    from swisper_studio.exporter import _publisher

    yields: list[str] = []
    real_yield = _publisher._yield_gil

    def record_yield() -> None:
        yields.append(threading.current_thread().name)
        real_yield()

    monkeypatch.setattr(_publisher, "_yield_gil", record_yield)
    # One batch of 400 events (a long delay, a large batch): several chunks, one flush.
    processor = make_processor(schedule_delay_millis=60_000, max_batch_size=4096)
    tracer = tracer_for(processor)
    for i in range(100):
        with tracer.start_as_current_span(f"s{i}"):
            pass
    processor.on_end(_Unencodable())  # lost in a later chunk: event 201 of the batch
    for i in range(100, 200):
        with tracer.start_as_current_span(f"s{i}"):
            pass
    assert processor.force_flush(5000) is False  # one event queued before the flush was lost
    stats = processor.stats()
    assert stats["published"] == 400
    assert stats["dropped"]["encode_error"] == 1
    events = read_events(redis_url, stream_name)
    ends = [e.name for e in events if e.is_end]
    assert ends == [f"s{i}" for i in range(200)]
    chunks = -(-401 // _publisher._CHUNK)
    assert yields == [PUBLISHER_THREAD] * (chunks - 1)
    assert processor.force_flush(5000) is True
