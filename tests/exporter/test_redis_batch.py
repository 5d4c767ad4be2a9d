"""xadd_batch(): the hand-packed pipeline writes exactly what redis-py's XADD would."""

from __future__ import annotations

import redis
from swisper_studio.exporter import _redis, wire


def test_packed_commands_equal_redis_py_packing():
    connection = redis.Connection()
    fields = {b"v": b"1", b"empty": b"", b"bin": bytes(range(256)), b"utf8": "żółw".encode()}
    head = _redis._xadd_head("events:ż", 100)
    expected = b"".join(
        connection.pack_command(
            "XADD", "events:ż", "MAXLEN", "~", "100", "*", *[x for kv in fields.items() for x in kv]
        )
    )
    assert _redis._pack_xadd(head, fields) == expected


def test_a_batch_is_written_in_order_with_per_entry_results(redis_url, stream_name):
    client = redis.Redis.from_url(redis_url)
    entries = [wire.encode_init_request(f"req-{i}", "p") for i in range(5)]
    entries.insert(2, {"type": "str fields", 7: 3.5})  # str/number fields are converted
    results = _redis.xadd_batch(client, stream_name, entries, maxlen=1000)
    assert len(results) == 6 and all(isinstance(r, bytes) for r in results)
    stored = client.xrange(stream_name)
    assert [entry_id for entry_id, _ in stored] == results
    assert stored[2][1] == {b"type": b"str fields", b"7": b"3.5"}
    assert [wire.decode_entry(f).request_id for _, f in stored if b"request_id" in f] == [
        f"req-{i}" for i in range(5)
    ]
    client.set(stream_name + ":wrong", b"x")
    [refused] = _redis.xadd_batch(client, stream_name + ":wrong", entries[:1], maxlen=10)
    assert isinstance(refused, redis.ResponseError)
    assert client.ping()  # the connection is still usable after an error reply
    client.close()
