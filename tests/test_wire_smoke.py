from swisper_studio.exporter.wire import decode_entry, encode_init_request


def test_init_request_round_trips():
    event = decode_entry(encode_init_request("abc", "proj"))
    assert event.request_id == "abc"
    assert event.project_id == "proj"
