"""Store: idempotent, order-independent upserts into real PostgreSQL; poison isolation."""

from __future__ import annotations

import psycopg
import pytest
from collector_support import WireRecorder, agent_trace, connect, count, make_tracer, snapshot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from swisper_studio.collector.mapping import map_events
from swisper_studio.collector.migrate import migrate
from swisper_studio.collector.store import Store, StoreUnavailable
from swisper_studio.exporter import wire


@pytest.fixture
def store(database_url):
    migrate(database_url)
    with Store(database_url) as s:
        yield s


def _events(project="proj", traces=1, fail_tool=True):
    recorder = WireRecorder(project)
    tracer = make_tracer(recorder)
    for _ in range(traces):
        agent_trace(tracer, fail_tool=fail_tool)
    return [wire.decode_entry(fields) for fields in recorder.events]


def test_batch_lands_as_a_trace_with_its_observations(store, database_url):
    events = _events()
    store.write(map_events(events))
    obs, traces = snapshot(database_url)
    assert len(obs) == len(events) // 2
    (trace,) = traces
    assert trace[2] == "agent"  # name from the root span
    assert trace[11] == "ERROR"  # worst observation level
    assert trace[12] == "UNSET"  # root ended without an explicit status
    with connect(database_url) as conn:
        project = conn.execute("SELECT name, auto_created FROM projects").fetchone()
    assert project == ("proj", True)


def test_span_end_before_span_start_and_running_spans(store, database_url):
    events = _events()
    ends = [e for e in events if e.is_end]
    starts = [e for e in events if not e.is_end]
    store.write(map_events(starts))
    running = count(database_url, "SELECT count(*) FROM observations WHERE end_time IS NULL")
    assert running == len(starts)
    assert count(database_url, "SELECT count(*) FROM traces WHERE status = 'RUNNING'") == 1

    with psycopg.connect(database_url) as conn:
        conn.execute("TRUNCATE observations, traces")
    store.write(map_events(ends))
    store.write(map_events(starts))
    obs, traces = snapshot(database_url)
    assert all(row[-1] and row[-2] for row in obs)  # has_start and has_end
    assert all(row[8] is not None for row in obs)  # end_time kept
    assert traces[0][12] == "UNSET"


def test_trace_appears_before_its_root_arrives(store, database_url):
    events = _events()
    children = [e for e in events if e.parent_span_id]
    store.write(map_events(children))
    (trace,) = snapshot(database_url)[1]
    assert trace[2] is None and trace[12] == "RUNNING"
    store.write(map_events([e for e in events if not e.parent_span_id]))
    (trace,) = snapshot(database_url)[1]
    assert trace[2] == "agent" and trace[12] == "UNSET"


_EVENTS = _events(traces=2)
_REFERENCE: dict[str, object] = {}


def _fresh_tables(database_url):
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("TRUNCATE observations, traces")


def _reference(store, database_url):
    """Rows of the events written once, in order, in one batch (computed once per database)."""
    if database_url not in _REFERENCE:
        _fresh_tables(database_url)
        store.write(map_events(_EVENTS))
        _REFERENCE[database_url] = snapshot(database_url)
    return _REFERENCE[database_url]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_order_batching_and_duplication_gives_identical_rows(store, database_url, data):
    expected = _reference(store, database_url)
    _fresh_tables(database_url)
    shuffled = data.draw(st.permutations(_EVENTS))
    dupes = data.draw(st.lists(st.sampled_from(_EVENTS), max_size=10))
    stream = [*shuffled, *dupes]
    cuts = sorted(data.draw(st.sets(st.integers(0, len(stream)), max_size=6)))
    for lo, hi in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        store.write(map_events(stream[lo:hi]))
    assert snapshot(database_url) == expected


def test_another_projects_event_never_overwrites_a_trace(store, database_url):
    mine = _events("mine")
    store.write(map_events(mine))
    before = snapshot(database_url)
    intruder = [
        wire.SpanEvent(**{**_asdict(e), "project_id": "other", "name": "evil"}) for e in mine
    ]
    store.write(map_events(intruder))
    assert snapshot(database_url) == before


def _asdict(event):
    return {name: getattr(event, name) for name in event.__slots__}


def test_nul_characters_in_payloads_are_stored(store, database_url):
    (event,) = [e for e in _events() if e.is_end and not e.parent_span_id]
    bad = wire.SpanEvent(**{**_asdict(event), "attributes": {"output.value": "a\x00b"}})
    store.write(map_events([bad]))
    with connect(database_url) as conn:
        sql = "SELECT output FROM observations WHERE id = %s"
        (output,) = conn.execute(sql, (event.span_id,)).fetchone()
    assert output == "ab"


def test_poison_record_is_isolated_while_the_others_commit(store, database_url):
    good = _events()
    poison = wire.SpanEvent(**{**_asdict(good[0]), "project_id": "x" * 300, "span_id": "c" * 16})
    with pytest.raises(psycopg.Error):
        store.write(map_events([*good, poison]))
    records = [(i, map_events([e])) for i, e in enumerate([*good, poison])]
    failed = store.write_each(records)
    assert list(failed) == [len(good)]
    assert "CheckViolation" in failed[len(good)]
    assert count(database_url, "SELECT count(*) FROM observations") == len(good) // 2


def test_nul_in_a_text_column_is_refused_as_data_not_as_an_outage(store, database_url):
    good = _events()
    bad = wire.SpanEvent(**{**_asdict(good[0]), "name": "a\x00b", "span_id": "d" * 16})
    with pytest.raises(psycopg.Error) as refused:
        store.write(map_events([*good, bad]))
    assert not isinstance(refused.value, StoreUnavailable)
    failed = store.write_each([(i, map_events([e])) for i, e in enumerate([*good, bad])])
    assert list(failed) == [len(good)]
    assert count(database_url, "SELECT count(*) FROM observations") == len(good) // 2
