"""Fixtures for the exporter tests: processors that are always shut down, tracers, readers."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import Tracer
from swisper_studio.exporter import RedisStreamSpanProcessor


@pytest.fixture
def make_processor(redis_url: str, stream_name: str) -> Iterator[Callable[..., object]]:
    """Build processors on the test's Redis and stream; every one is shut down afterwards."""
    made: list[RedisStreamSpanProcessor] = []

    def factory(**kwargs) -> RedisStreamSpanProcessor:
        kwargs.setdefault("redis_url", redis_url)
        kwargs.setdefault("stream_name", stream_name)
        processor = RedisStreamSpanProcessor(**kwargs)
        made.append(processor)
        return processor

    yield factory
    for processor in made:
        processor.shutdown(timeout_millis=2000)


@pytest.fixture
def tracer_for() -> Iterator[Callable[..., Tracer]]:
    """A tracer whose provider has exactly the given span processors."""
    providers: list[TracerProvider] = []

    def factory(*processors, resource: Resource | None = None, **provider_kw) -> Tracer:
        provider = TracerProvider(
            resource=resource or Resource.create({"service.name": "exporter-tests"}),
            shutdown_on_exit=False,
            **provider_kw,
        )
        for processor in processors:
            provider.add_span_processor(processor)
        providers.append(provider)
        return provider.get_tracer("tests.exporter", "1.2.3")

    yield factory
    for provider in providers:
        provider.shutdown()
