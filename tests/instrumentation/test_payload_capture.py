"""Payload encoding: JSON-safe, never raises, capped with a marker, redacted."""

from __future__ import annotations

import dataclasses
import datetime
import json
import uuid
from typing import TypedDict

import pytest
from langchain_core.messages import AIMessage, HumanMessage
from langgraph.graph import END, START, StateGraph
from langgraph.types import Send
from pydantic import BaseModel
from swisper_studio.instrumentation import (
    REDACTED,
    PayloadEncoder,
    instrument_langgraph,
    is_secret_key,
    uninstrument_langgraph,
)


class Model(BaseModel):
    name: str
    password: str


@dataclasses.dataclass
class Point:
    x: int
    y: int


class Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


class Weird:
    def __repr__(self) -> str:
        return "<Weird thing>"


def test_encodes_messages_models_dataclasses_and_odd_objects():
    enc = PayloadEncoder()
    value = {
        "messages": [HumanMessage("hi"), AIMessage("yo", tool_calls=[])],
        "model": Model(name="n", password="hunter2"),
        "point": Point(1, 2),
        "when": datetime.datetime(2026, 1, 2, 3, 4, 5),
        "id": uuid.UUID(int=1),
        "raw": b"\x00\x01",
        "set": {3},
        "send": Send("node", {"a": 1}),
        "weird": Weird(),
        "broken": Unprintable(),
        7: "int key",
    }
    text, truncated = enc.encode(value)
    assert truncated is False
    data = json.loads(text)
    assert data["messages"] == [
        {"type": "human", "content": "hi"},
        {"type": "ai", "content": "yo"},
    ]
    assert data["model"] == {"name": "n", "password": REDACTED}
    assert data["point"] == {"x": 1, "y": 2}
    assert data["when"] == "2026-01-02T03:04:05"
    assert data["id"] == str(uuid.UUID(int=1))
    assert data["raw"] == "<2 bytes>"
    assert data["set"] == [3]
    assert "node" in data["send"]
    assert data["weird"] == "<Weird thing>"
    assert data["broken"] == "<unrepresentable Unprintable>"
    assert data["7"] == "int key"


def test_cyclic_structures_do_not_raise():
    a: list = []
    a.append(a)
    text, truncated = PayloadEncoder().encode(a)
    assert truncated is True
    assert text.endswith("...[truncated]")


@pytest.mark.parametrize(
    "key",
    [
        "password",
        "api_key",
        "OPENAI_API_KEY",
        "apikey",
        "token",
        "access-token",
        "secret",
        "client_secret",
        "Authorization",
        "Cookie",
        "db_password",
    ],
)
def test_default_redaction_masks_secret_keys(key):
    assert is_secret_key(key)
    text, _ = PayloadEncoder().encode({"outer": {key: "s3cr3t"}})
    assert "s3cr3t" not in text
    assert json.loads(text) == {"outer": {key: REDACTED}}


@pytest.mark.parametrize("key", ["input_tokens", "max_tokens", "name", "user_id", "messages"])
def test_default_redaction_keeps_ordinary_keys(key):
    assert not is_secret_key(key)
    assert json.loads(PayloadEncoder().encode({key: 1})[0]) == {key: 1}


def test_custom_and_disabled_redaction():
    enc = PayloadEncoder(redact=lambda k, v: "***" if k == "email" else v)
    assert json.loads(enc.encode({"email": "a@b.c", "password": "p"})[0]) == {
        "email": "***",
        "password": "p",
    }
    assert json.loads(PayloadEncoder(redact=None).encode({"password": "p"})[0]) == {"password": "p"}


def test_failing_redaction_hook_masks_instead_of_raising():
    def bad(key, value):
        raise KeyError(key)

    assert json.loads(PayloadEncoder(redact=bad).encode({"a": 1})[0]) == {"a": REDACTED}


def test_cap_truncates_with_marker_and_bounds_size():
    enc = PayloadEncoder(max_bytes=1000)
    text, truncated = enc.encode({"blob": "x" * 100_000, "items": list(range(10_000))})
    assert truncated is True
    assert text.endswith("...[truncated]")
    assert len(text.encode()) <= 1000 + len("...[truncated]")


def test_invalid_settings_raise_at_setup():
    with pytest.raises(ValueError):
        PayloadEncoder(max_bytes=0)
    with pytest.raises(TypeError):
        PayloadEncoder(redact="nope")  # type: ignore[arg-type]


class Big(TypedDict, total=False):
    blob: str
    n: int


def _big_graph():
    g = StateGraph(Big)
    g.add_node("grow", lambda s: {"n": len(s["blob"])})
    g.add_edge(START, "grow")
    g.add_edge("grow", END)
    return g.compile(name="big")


def test_one_megabyte_state_is_capped_on_every_span(spans):
    out = _big_graph().invoke({"blob": "y" * 1_000_000})
    assert out["n"] == 1_000_000
    s = spans()
    root, node = s.one("big"), s.one("grow")
    for span in (root, node):
        value = span.attributes["input.value"]
        assert len(value.encode()) <= 32 * 1024 + len("...[truncated]")
        assert value.endswith("...[truncated]")
        assert span.attributes["input.truncated"] is True
    assert root.attributes["output.truncated"] is True
    assert "output.truncated" not in node.attributes  # {"n": 1000000} is small


def test_max_payload_bytes_option(spans, provider):
    uninstrument_langgraph()
    instrument_langgraph(provider, max_payload_bytes=100)
    _big_graph().invoke({"blob": "z" * 500})
    value = spans().one("grow").attributes["input.value"]
    assert len(value) == 100 + len("...[truncated]")


def test_capture_payloads_false_records_structure_only(spans, provider):
    uninstrument_langgraph()
    instrument_langgraph(provider, capture_payloads=False)
    _big_graph().invoke(
        {"blob": "secret-data"}, {"configurable": {"thread_id": "t"}, "metadata": {"user_id": "u"}}
    )
    s = spans()
    root, node = s.one("big"), s.one("grow")
    assert s.parent_of(node) is root
    assert node.attributes["langgraph.node"] == "grow"
    assert root.attributes["session.id"] == "t" and root.attributes["user.id"] == "u"
    for span in s.all:
        assert not any(k.startswith(("input.", "output.", "metadata")) for k in span.attributes)
        assert all("secret-data" not in str(v) for v in span.attributes.values())
