"""RedisStreamSpanExporter: BatchSpanProcessor users, honest results, the OTel plugin entry."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from exporter_support import read_events
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult
from servers import free_port
from swisper_studio.exporter import RedisStreamSpanExporter, wire


def _finished_span(name: str = "work", **attributes):
    provider = TracerProvider(
        resource=Resource.create({"service.name": "t"}), shutdown_on_exit=False
    )
    with provider.get_tracer("tests").start_as_current_span(name, attributes=attributes) as span:
        pass
    return span


def test_batch_span_processor_users_get_end_events_in_the_same_format(redis_url, stream_name):
    exporter = RedisStreamSpanExporter(
        redis_url=redis_url, stream_name=stream_name, project_id="bsp"
    )
    provider = TracerProvider(
        resource=Resource.create({"service.name": "bsp-app"}), shutdown_on_exit=False
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    tracer = provider.get_tracer("tests")
    with tracer.start_as_current_span("root") as root, tracer.start_as_current_span("leaf") as leaf:
        leaf.set_attribute("answer", 42)
    assert provider.force_flush(5000)
    provider.shutdown()
    events = read_events(redis_url, stream_name)
    assert [(e.type, e.name) for e in events] == [(wire.SPAN_END, "leaf"), (wire.SPAN_END, "root")]
    leaf_event = events[0]
    assert leaf_event.project_id == "bsp"
    assert leaf_event.attributes == {"answer": 42}
    assert leaf_event.parent_span_id == f"{root.get_span_context().span_id:016x}"
    assert leaf_event.end_time_unix_nano == leaf.end_time
    assert leaf_event.resource["attributes"]["service.name"] == "bsp-app"


def test_export_reports_failure_and_never_raises_when_redis_is_down(stream_name):
    exporter = RedisStreamSpanExporter(
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
        stream_name=stream_name,
        export_timeout_millis=300,
    )
    assert exporter.export([_finished_span()]) is SpanExportResult.FAILURE
    exporter.shutdown()


def test_export_after_shutdown_fails_fast_and_shutdown_twice_is_harmless(redis_url, stream_name):
    exporter = RedisStreamSpanExporter(redis_url=redis_url, stream_name=stream_name)
    assert exporter.export([_finished_span()]) is SpanExportResult.SUCCESS
    exporter.shutdown()
    exporter.shutdown()
    assert exporter.export([_finished_span()]) is SpanExportResult.FAILURE
    assert exporter.force_flush() is True
    assert len(read_events(redis_url, stream_name)) == 1


def test_shutdown_interrupts_an_export_that_is_retrying(stream_name):
    exporter = RedisStreamSpanExporter(
        redis_url=f"redis://127.0.0.1:{free_port()}/0",
        stream_name=stream_name,
        export_timeout_millis=60_000,
    )
    results = []
    worker = threading.Thread(target=lambda: results.append(exporter.export([_finished_span()])))
    worker.start()
    exporter.shutdown()
    worker.join(20)  # far below the one-minute retry budget
    assert not worker.is_alive()
    assert results == [SpanExportResult.FAILURE]


def test_an_unencodable_span_makes_the_batch_fail_but_the_rest_is_written(redis_url, stream_name):
    exporter = RedisStreamSpanExporter(redis_url=redis_url, stream_name=stream_name)
    result = exporter.export([_finished_span("good"), object()])
    exporter.shutdown()
    assert result is SpanExportResult.FAILURE
    assert [e.name for e in read_events(redis_url, stream_name)] == ["good"]


def test_constructible_with_no_arguments_from_the_environment(redis_url, stream_name, monkeypatch):
    monkeypatch.setenv("SWISPER_STUDIO_REDIS_URL", redis_url)
    monkeypatch.setenv("SWISPER_STUDIO_STREAM_NAME", stream_name)
    monkeypatch.setenv("SWISPER_STUDIO_PROJECT_ID", "from-env")
    exporter = RedisStreamSpanExporter()
    assert exporter.export([_finished_span()]) is SpanExportResult.SUCCESS
    exporter.shutdown()
    [event] = read_events(redis_url, stream_name)
    assert event.project_id == "from-env"


def test_disabled_exporter_writes_nothing(redis_url, stream_name):
    exporter = RedisStreamSpanExporter(redis_url=redis_url, stream_name=stream_name, enabled=False)
    assert exporter.export([_finished_span()]) is SpanExportResult.SUCCESS
    assert read_events(redis_url, stream_name) == []


def test_entry_point_resolves_through_opentelemetrys_own_loader(monkeypatch):
    from opentelemetry.sdk._configuration import _get_exporter_names, _import_exporters

    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "redis_streams")
    names = _get_exporter_names("traces")
    assert names == ["redis_streams"]
    trace_exporters, _, _ = _import_exporters(names, [], [])
    assert trace_exporters == {"redis_streams": RedisStreamSpanExporter}


APP = """
from opentelemetry import trace

tracer = trace.get_tracer("instrumented.app")
with tracer.start_as_current_span("hello-from-app") as span:
    span.set_attribute("answer", 42)
print("app ran")
"""


@pytest.mark.slow
def test_opentelemetry_instrument_with_otel_traces_exporter_redis_streams(
    redis_url, stream_name, tmp_path: Path
):
    app = tmp_path / "app.py"
    app.write_text(APP)
    instrument = Path(sys.executable).parent / "opentelemetry-instrument"
    env = {
        **os.environ,
        "OTEL_TRACES_EXPORTER": "redis_streams",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_SERVICE_NAME": "instrumented-app",
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=ci",
        "SWISPER_STUDIO_REDIS_URL": redis_url,
        "SWISPER_STUDIO_STREAM_NAME": stream_name,
        "SWISPER_STUDIO_PROJECT_ID": "auto",
    }
    done = subprocess.run(
        [str(instrument), sys.executable, str(app)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "app ran" in done.stdout
    events = read_events(redis_url, stream_name)
    # The Redis instrumentation is installed and active in that process, yet the exporter's own
    # XADDs are not traced: the only span is the application's.
    assert [(e.type, e.name) for e in events] == [(wire.SPAN_END, "hello-from-app")]
    [event] = events
    assert event.project_id == "auto"
    assert event.attributes == {"answer": 42}
    assert event.resource["attributes"]["service.name"] == "instrumented-app"
    assert event.resource["attributes"]["deployment.environment"] == "ci"
