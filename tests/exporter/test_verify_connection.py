"""verify_connection(): the three situations, with the test playing the collector's part."""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timezone

import orjson
import pytest
import redis
from servers import free_port
from swisper_studio.exporter import verify_connection, wire

GROUP = "swisper_studio_consumers"


@pytest.fixture
def client(redis_url):
    connection = redis.Redis.from_url(redis_url)
    yield connection
    connection.close()


def _heartbeat(client, stream_name, *, consumer="c1", group=GROUP, age_s=0.0, iso=False):
    stamp = time.time() - age_s
    value = {"consumer": consumer, "group": group, "stream": stream_name}
    if iso:
        value["time"] = datetime.fromtimestamp(stamp, timezone.utc).isoformat()
    else:
        value["timestamp"] = stamp
    client.set(wire.heartbeat_key(group, consumer), orjson.dumps(value), px=60_000)


class _FakeCollector(threading.Thread):
    """Answers init_request events on the stream by SETting their ack key, like the collector."""

    def __init__(self, redis_url: str, stream_name: str) -> None:
        super().__init__(daemon=True)
        self.client = redis.Redis.from_url(redis_url)
        self.stream_name = stream_name
        self.stopped = threading.Event()
        self.answered: list[wire.InitRequest] = []

    def run(self) -> None:
        last_id = "0-0"
        while not self.stopped.is_set():
            for _, entries in self.client.xread({self.stream_name: last_id}, block=50) or []:
                for entry_id, fields in entries:
                    last_id = entry_id
                    event = wire.decode_entry(fields)
                    if isinstance(event, wire.InitRequest):
                        self.answered.append(event)
                        self.client.set(wire.init_ack_key(event.request_id), b'{"status":"ok"}')

    def stop(self) -> None:
        self.stopped.set()
        self.join(5)
        self.client.close()


def test_all_working_when_a_collector_runs(redis_url, stream_name, client, caplog):
    _heartbeat(client, stream_name)
    collector = _FakeCollector(redis_url, stream_name)
    collector.start()
    try:
        with caplog.at_level(logging.INFO, logger="swisper_studio"):
            result = verify_connection(
                redis_url, stream_name=stream_name, check_end_to_end=True, project_id="p1"
            )
    finally:
        collector.stop()
    assert result == {"redis": True, "write": True, "consumer": True, "end_to_end": True}
    assert [(r.project_id, r.body["host"] != "") for r in collector.answered] == [("p1", True)]
    assert "all working" in caplog.text
    assert client.xlen(wire.HEALTH_CHECK_STREAM) == 1


def test_consumer_not_running_events_queue_until_it_starts(redis_url, stream_name, caplog):
    with caplog.at_level(logging.INFO, logger="swisper_studio"):
        result = verify_connection(
            redis_url, stream_name=stream_name, check_end_to_end=True, timeout_s=0.3
        )
    assert result == {"redis": True, "write": True, "consumer": False, "end_to_end": False}
    assert "no collector" in caplog.text
    assert "queue" in caplog.text
    assert "all working" not in caplog.text


def test_redis_unreachable_is_reported_as_degraded_and_never_raises(stream_name, caplog):
    with caplog.at_level(logging.WARNING, logger="swisper_studio"):
        result = verify_connection(
            f"redis://127.0.0.1:{free_port()}/0", stream_name=stream_name, timeout_s=0.5
        )
    assert result == {"redis": False, "write": False, "consumer": False, "end_to_end": False}
    assert "unreachable" in caplog.text
    assert "degraded" in caplog.text
    assert "not affected" in caplog.text


def test_a_stale_heartbeat_does_not_count(redis_url, stream_name, client):
    _heartbeat(client, stream_name, age_s=120)
    assert verify_connection(redis_url, stream_name=stream_name)["consumer"] is False


def test_the_freshest_of_several_heartbeats_counts_and_iso_times_are_read(
    redis_url, stream_name, client
):
    _heartbeat(client, stream_name, consumer="old", age_s=120)
    _heartbeat(client, stream_name, consumer="new", iso=True)
    assert verify_connection(redis_url, stream_name=stream_name)["consumer"] is True


def test_heartbeats_of_another_group_or_stream_do_not_count(redis_url, stream_name, client):
    _heartbeat(client, stream_name, group="someone_else")
    _heartbeat(client, "other:stream", consumer="c2")
    assert verify_connection(redis_url, stream_name=stream_name)["consumer"] is False
    assert verify_connection(redis_url, stream_name=stream_name, group_name="someone_else")[
        "consumer"
    ]


def test_health_check_stream_stays_small(redis_url, stream_name, client):
    for _ in range(15):
        verify_connection(redis_url, stream_name=stream_name, check_consumer=False)
    assert client.xlen(wire.HEALTH_CHECK_STREAM) == 10


def test_write_refused_is_reported(redis_url, stream_name, client, caplog):
    client.set(wire.HEALTH_CHECK_STREAM, b"not a stream")  # XADD answers WRONGTYPE
    with caplog.at_level(logging.ERROR, logger="swisper_studio"):
        result = verify_connection(redis_url, stream_name=stream_name)
    assert result == {"redis": True, "write": False, "consumer": False, "end_to_end": False}
    assert "refuses writes" in caplog.text


def test_malformed_arguments_are_reported_not_raised(caplog):
    with caplog.at_level(logging.ERROR, logger="swisper_studio"):
        result = verify_connection("http://nope", timeout_s=1)
    assert not any(result.values())
    assert "redis://" in caplog.text


@pytest.fixture
def tz_east_of_utc(monkeypatch):
    """A local zone 9 h east of UTC, so a naive time read as local time would be 9 h old."""
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize(
    "stamp",
    [
        pytest.param(lambda now: datetime.fromtimestamp(now, timezone.utc).isoformat(), id="aware"),
        pytest.param(
            lambda now: datetime.fromtimestamp(now, timezone.utc).replace(tzinfo=None).isoformat(),
            id="naive-utc",
        ),
        pytest.param(lambda now: now, id="float"),
        pytest.param(lambda now: int(now), id="int"),
        pytest.param(lambda now: repr(now), id="str-seconds"),
    ],
)
def test_heartbeat_timestamp_is_read_as_iso_or_unix_seconds(
    redis_url, stream_name, client, tz_east_of_utc, stamp
):
    value = {"consumer": "c1", "group": GROUP, "timestamp": stamp(time.time())}
    client.set(wire.heartbeat_key(GROUP, "c1"), orjson.dumps(value), px=60_000)
    assert verify_connection(redis_url, stream_name=stream_name)["consumer"] is True


def test_the_original_designs_single_heartbeat_key_counts(
    redis_url, stream_name, client, tz_east_of_utc
):
    assert wire.LEGACY_HEARTBEAT_KEY == "swisper_studio:consumer:heartbeat"
    # As the original design wrote it: datetime.utcnow().isoformat(), no group or stream.
    stamp = datetime.now(timezone.utc).replace(tzinfo=None).isoformat()
    value = {"status": "healthy", "timestamp": stamp}
    client.set(wire.LEGACY_HEARTBEAT_KEY, orjson.dumps(value), ex=60)
    assert verify_connection(redis_url, stream_name=stream_name)["consumer"] is True
    stale = datetime.fromtimestamp(time.time() - 120, timezone.utc).replace(tzinfo=None)
    client.set(wire.LEGACY_HEARTBEAT_KEY, orjson.dumps({"timestamp": stale.isoformat()}), ex=60)
    assert verify_connection(redis_url, stream_name=stream_name)["consumer"] is False


def test_timestamp_unix_wins_over_the_iso_timestamp(redis_url, stream_name, client):
    old = datetime.fromtimestamp(time.time() - 120, timezone.utc).isoformat()
    value = {"group": GROUP, "timestamp": old, "timestamp_unix": time.time()}
    client.set(wire.heartbeat_key(GROUP, "c1"), orjson.dumps(value), px=60_000)
    assert verify_connection(redis_url, stream_name=stream_name)["consumer"] is True


def test_the_original_designs_keyword_names_are_accepted(redis_url, stream_name, caplog):
    collector = _FakeCollector(redis_url, stream_name)
    collector.start()
    try:
        for flag in ("verify_end_to_end", "end_to_end"):
            result = verify_connection(
                redis_url, stream_name=stream_name, verify_consumer=False, timeout=5, **{flag: True}
            )
            assert result["end_to_end"] is True, flag
    finally:
        collector.stop()
    with caplog.at_level(logging.WARNING, logger="swisper_studio"):
        result = verify_connection(
            redis_url, stream_name=stream_name, verify_consumer=False, end_to_end=True, timeout=0.2
        )
    assert result == {"redis": True, "write": True, "consumer": False, "end_to_end": False}
    assert "no collector of group" not in caplog.text  # verify_consumer=False skipped the check
    assert "within 0.2 s" in caplog.text  # timeout= reached timeout_s
    with pytest.raises(TypeError, match="verify_everything"):
        verify_connection(redis_url, verify_everything=True)


def test_init_request_carries_the_original_designs_flat_fields(redis_url, stream_name, client):
    before = datetime.now(timezone.utc).replace(microsecond=0)
    verify_connection(redis_url, stream_name=stream_name, end_to_end=True, timeout=0.2)
    (_, fields), *_ = client.xrange(stream_name)
    assert fields[b"event_type"] == b"init_request"
    assert fields[b"type"] == b"init_request"
    sent = datetime.fromisoformat(fields[b"timestamp"].decode())
    assert sent.tzinfo is not None and before <= sent <= datetime.now(timezone.utc)
    assert isinstance(wire.decode_entry(fields), wire.InitRequest)
