"""ExporterConfig: constructor > environment > default, OTel-style parsing, clear errors."""

from __future__ import annotations

import logging
from importlib.metadata import entry_points

import pytest
from swisper_studio.exporter import (
    ExporterConfig,
    RedisStreamSpanExporter,
    RedisStreamSpanProcessor,
)

ALL_VARIABLES = [
    "SWISPER_STUDIO_REDIS_URL",
    "SWISPER_STUDIO_STREAM_NAME",
    "SWISPER_STUDIO_PROJECT_ID",
    "SWISPER_STUDIO_MAX_STREAM_LENGTH",
    "SWISPER_STUDIO_MAX_QUEUE_SIZE",
    "SWISPER_STUDIO_MAX_BATCH_SIZE",
    "SWISPER_STUDIO_SCHEDULE_DELAY_MILLIS",
    "SWISPER_STUDIO_EXPORT_TIMEOUT_MILLIS",
    "SWISPER_STUDIO_ENABLED",
    "OTEL_SDK_DISABLED",
]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in ALL_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def test_defaults_work_on_a_laptop():
    config = ExporterConfig()
    assert config.redis_url == "redis://localhost:6379/0"
    assert config.stream_name == "observability:events"
    assert config.project_id == "default"
    assert config.max_stream_length == 100_000
    assert config.max_queue_size >= 10_000  # absorbs a 5 s outage at 1,000 spans/s
    assert 0 < config.max_batch_size <= config.max_queue_size
    assert config.enabled is True


def test_environment_is_read_and_constructor_arguments_win(monkeypatch):
    monkeypatch.setenv("SWISPER_STUDIO_REDIS_URL", "redis://env-host:6380/2")
    monkeypatch.setenv("SWISPER_STUDIO_STREAM_NAME", "env:stream")
    monkeypatch.setenv("SWISPER_STUDIO_PROJECT_ID", "env-project")
    monkeypatch.setenv("SWISPER_STUDIO_MAX_STREAM_LENGTH", "5000")
    monkeypatch.setenv("SWISPER_STUDIO_MAX_QUEUE_SIZE", "300")
    monkeypatch.setenv("SWISPER_STUDIO_MAX_BATCH_SIZE", "30")
    from_env = ExporterConfig()
    assert (from_env.redis_url, from_env.stream_name, from_env.project_id) == (
        "redis://env-host:6380/2",
        "env:stream",
        "env-project",
    )
    assert (from_env.max_stream_length, from_env.max_queue_size, from_env.max_batch_size) == (
        5000,
        300,
        30,
    )
    overridden = ExporterConfig(stream_name="arg:stream", max_queue_size=400, project_id="p")
    assert overridden.stream_name == "arg:stream"
    assert overridden.max_queue_size == 400
    assert overridden.project_id == "p"
    assert overridden.redis_url == "redis://env-host:6380/2"  # not overridden: still the env


def test_empty_environment_values_count_as_unset(monkeypatch):
    monkeypatch.setenv("SWISPER_STUDIO_STREAM_NAME", "")
    monkeypatch.setenv("SWISPER_STUDIO_MAX_QUEUE_SIZE", "  ")
    monkeypatch.setenv("SWISPER_STUDIO_ENABLED", "")
    config = ExporterConfig()
    assert config.stream_name == "observability:events"
    assert config.max_queue_size == ExporterConfig().max_queue_size
    assert config.enabled is True


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("true", True),
        ("FALSE", False),
        ("True", True),
        ("1", True),
        ("0", False),
        ("yes", True),
        ("No", False),
        ("ON", True),
        ("off", False),
    ],
)
def test_enabled_accepts_the_usual_switch_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("SWISPER_STUDIO_ENABLED", raw)
    assert ExporterConfig().enabled is expected


@pytest.mark.parametrize("raw", ["maybe", "2", "enabled", "t"])
def test_another_enabled_spelling_is_an_error_naming_the_variable(monkeypatch, raw):
    monkeypatch.setenv("SWISPER_STUDIO_ENABLED", raw)
    with pytest.raises(ValueError, match="SWISPER_STUDIO_ENABLED") as raised:
        ExporterConfig()
    assert repr(raw) in str(raised.value)


@pytest.mark.parametrize(
    ("variable", "raw"),
    [
        ("SWISPER_STUDIO_MAX_QUEUE_SIZE", "-5"),
        ("SWISPER_STUDIO_MAX_QUEUE_SIZE", "0"),
        ("SWISPER_STUDIO_MAX_QUEUE_SIZE", "1.5"),
        ("SWISPER_STUDIO_MAX_STREAM_LENGTH", "-1"),
        ("SWISPER_STUDIO_MAX_BATCH_SIZE", "abc"),
        ("SWISPER_STUDIO_SCHEDULE_DELAY_MILLIS", "soon"),
        ("SWISPER_STUDIO_EXPORT_TIMEOUT_MILLIS", "-100"),
    ],
)
def test_a_bad_number_in_the_environment_is_an_error_naming_variable_and_value(
    monkeypatch, variable, raw
):
    monkeypatch.setenv(variable, raw)
    with pytest.raises(ValueError, match=variable) as raised:
        ExporterConfig()
    assert repr(raw) in str(raised.value)
    with pytest.raises(ValueError, match=variable):
        RedisStreamSpanProcessor()
    with pytest.raises(ValueError, match=variable):
        RedisStreamSpanExporter()  # the OTEL_TRACES_EXPORTER path: no-argument construction


@pytest.mark.parametrize(
    ("variable", "raw"),
    [
        ("SWISPER_STUDIO_REDIS_URL", "http://localhost:6379"),
        ("SWISPER_STUDIO_ENABLED", "maybe"),
        ("SWISPER_STUDIO_MAX_QUEUE_SIZE", "-5"),
    ],
)
def test_the_exporter_entry_point_fails_the_same_way(monkeypatch, variable, raw):
    monkeypatch.setenv(variable, raw)
    exporter_class = next(
        iter(entry_points(group="opentelemetry_traces_exporter", name="redis_streams"))
    ).load()
    with pytest.raises(ValueError, match=variable):
        exporter_class()


def test_otel_sdk_disabled_keeps_opentelemetry_semantics(monkeypatch, caplog):
    monkeypatch.setenv("OTEL_SDK_DISABLED", "1")  # not "true": OTel does not disable
    with caplog.at_level(logging.WARNING):
        assert ExporterConfig().enabled is True
    monkeypatch.setenv("OTEL_SDK_DISABLED", "TRUE")
    assert ExporterConfig().enabled is False


def test_otel_sdk_disabled_turns_the_exporter_off(monkeypatch):
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    assert ExporterConfig().enabled is False
    assert ExporterConfig(enabled=True).enabled is True  # an explicit argument still wins


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"redis_url": "http://localhost:6379"}, ValueError, "redis://, rediss:// or unix://"),
        ({"redis_url": "localhost:6379"}, ValueError, "redis_url"),
        ({"redis_url": "redis://host:notaport/0"}, ValueError, "not a valid Redis URL"),
        ({"redis_url": 6379}, TypeError, "redis_url"),
        ({"max_queue_size": -1}, ValueError, "max_queue_size must be a positive integer"),
        ({"max_batch_size": 0}, ValueError, "max_batch_size"),
        ({"max_stream_length": "100"}, TypeError, "max_stream_length must be an int"),
        ({"max_queue_size": True}, TypeError, "max_queue_size"),
        ({"stream_name": ""}, ValueError, "stream_name"),
        ({"enabled": "false"}, TypeError, "enabled must be a bool"),
        ({"max_queue_size": 10, "max_batch_size": 20}, ValueError, "must not exceed"),
    ],
)
def test_a_bad_constructor_argument_is_a_clear_error(kwargs, error, message):
    with pytest.raises(error, match=message):
        ExporterConfig(**kwargs)
    with pytest.raises(error, match=message):
        RedisStreamSpanProcessor(**kwargs)


def test_a_bad_url_scheme_in_the_environment_is_an_error_naming_the_variable(monkeypatch):
    monkeypatch.setenv("SWISPER_STUDIO_REDIS_URL", "https://user:pw@example.org")
    with pytest.raises(ValueError, match="SWISPER_STUDIO_REDIS_URL") as raised:
        ExporterConfig()
    assert "pw@" not in str(raised.value)  # the password is redacted in the message


def test_rediss_and_passwords_are_accepted_and_redacted():
    config = ExporterConfig(redis_url="rediss://app:s3cret@redis.example.org:6380/1")
    assert config.redis_url == "rediss://app:s3cret@redis.example.org:6380/1"
    assert config.redacted_url == "rediss://app:***@redis.example.org:6380/1"
    assert "s3cret" not in repr(config)
    assert ExporterConfig(redis_url="unix:///run/redis.sock?db=3").redis_url.startswith("unix://")


def test_batch_larger_than_queue_from_the_environment_is_clamped(monkeypatch, caplog):
    monkeypatch.setenv("SWISPER_STUDIO_MAX_QUEUE_SIZE", "100")
    monkeypatch.setenv("SWISPER_STUDIO_MAX_BATCH_SIZE", "500")
    with caplog.at_level(logging.WARNING):
        config = ExporterConfig()
    assert (config.max_queue_size, config.max_batch_size) == (100, 100)
    assert "SWISPER_STUDIO_MAX_BATCH_SIZE" in caplog.text


def test_a_small_queue_alone_shrinks_the_default_batch():
    config = ExporterConfig(max_queue_size=10)
    assert (config.max_queue_size, config.max_batch_size) == (10, 10)


def test_config_is_frozen_and_can_be_passed_whole():
    config = ExporterConfig(stream_name="given", enabled=False)
    with pytest.raises(AttributeError):
        config.stream_name = "changed"
    assert RedisStreamSpanProcessor(config=config).config is config
    with pytest.raises(TypeError, match="either config or keyword"):
        RedisStreamSpanProcessor(config=config, stream_name="other")


def test_unreachable_server_is_not_an_error_at_construction(caplog):
    with caplog.at_level(logging.WARNING):
        processor = RedisStreamSpanProcessor(
            redis_url="redis://127.0.0.1:1/0", export_timeout_millis=200
        )
    try:
        assert processor.config.redis_url == "redis://127.0.0.1:1/0"
    finally:
        processor.shutdown(timeout_millis=100)
