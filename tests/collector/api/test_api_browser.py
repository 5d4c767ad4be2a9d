"""The trace browser in real headless Chromium (Debian's), driven by Playwright's client.

Screenshots, when a test wants one, go to a temporary folder, never into the repository.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator

import pytest
from api_corpus import AGENT_DEPTHS, AGENT_NAMES_IN_ORDER, Corpus
from api_support import serve
from opentelemetry import trace as otel
from swisper_studio.collector.api.app import create_app

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
TIMEOUT_MS = 15_000


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    sync_api = pytest.importorskip("playwright.sync_api")
    playwright = sync_api.sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()


@pytest.fixture
def page(browser, live_server, studio):
    """A fresh browser context whose localStorage already holds project A's key."""
    context = browser.new_context(base_url=live_server, viewport={"width": 1400, "height": 900})
    context.add_init_script(
        f"localStorage.setItem('swisper-studio.api-key', {studio.keys['proj-a']!r});"
    )
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert errors == [], f"JavaScript errors: {errors}"


def waterfall(page) -> list[tuple[str, int]]:
    rows = page.locator('[data-testid="waterfall-row"]')
    return [
        (rows.nth(i).get_attribute("data-name"), int(rows.nth(i).get_attribute("data-depth")))
        for i in range(rows.count())
    ]


def test_key_entry_list_click_trace_shows_waterfall_in_order(
    browser, live_server, studio, corpus: Corpus, tmp_path
):
    context = browser.new_context(base_url=live_server, viewport={"width": 1400, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    try:
        page.goto("/")
        page.get_by_test_id("api-key-input").fill(studio.keys["proj-a"])
        page.get_by_test_id("api-key-save").click()
        fact = next(t for t in corpus.of("proj-a") if t.name == "agent_graph" and not t.running)
        row = page.locator(f'[data-testid="trace-row"][data-trace-id="{fact.id}"]')
        row.click()
        page.wait_for_url(re.compile(f"#/traces/{fact.id}$"))
        page.locator('[data-testid="waterfall-row"]').nth(len(AGENT_NAMES_IN_ORDER) - 1).wait_for()
        assert waterfall(page) == list(zip(AGENT_NAMES_IN_ORDER, AGENT_DEPTHS, strict=True))

        # bars are placed by start offset: each later-starting span's bar is further right
        lefts = page.eval_on_selector_all(
            '[data-testid="waterfall-row"] .wf-bar',
            "bars => bars.map(b => parseFloat(b.style.left))",
        )
        assert lefts == sorted(lefts)
        assert lefts[0] == 0

        page.locator('[data-testid="waterfall-row"][data-name="search"]').click()
        detail = page.get_by_test_id("span-detail")
        assert detail.get_attribute("data-id") == page.locator(
            '[data-testid="waterfall-row"][data-name="search"]'
        ).get_attribute("data-id")
        assert '"result": "sunny"' in page.get_by_test_id("span-output").inner_text()
        assert '"query": "weather in Bern"' in page.get_by_test_id("span-input").inner_text()

        page.locator('[data-testid="waterfall-row"][data-name="ChatFakeModel"]').first.click()
        assert "fake-gpt" in detail.inner_text()
        assert '"input": 12' in page.get_by_test_id("span-usage").inner_text()
        page.screenshot(path=str(tmp_path / "trace.png"))
    finally:
        context.close()


def test_collapsing_a_node_hides_its_subtree(page, corpus: Corpus):
    fact = next(t for t in corpus.of("proj-a") if t.name == "agent_graph" and not t.running)
    page.goto(f"/#/traces/{fact.id}")
    page.locator('[data-testid="waterfall-row"]').nth(len(AGENT_NAMES_IN_ORDER) - 1).wait_for()
    page.locator('[data-testid="waterfall-row"][data-name="agent"] .caret').click()
    page.wait_for_function(
        "n => document.querySelectorAll('[data-testid=waterfall-row]').length === n",
        arg=len(AGENT_NAMES_IN_ORDER) - 2,
    )
    assert [name for name, _ in waterfall(page)] == [
        "agent_graph",
        "router",
        "planner",
        "ChatFakeModel",
        "agent",
        "answer",
    ]


def test_filters_and_paging(page, corpus: Corpus):
    page.goto("/#/traces?limit=10")
    rows = page.locator('[data-testid="trace-row"]')
    rows.nth(9).wait_for()
    newest = [t.id for t in corpus.newest_first("proj-a")]

    def ids() -> list[str]:
        return [rows.nth(i).get_attribute("data-trace-id") for i in range(rows.count())]

    assert ids() == newest[:10]
    page.get_by_test_id("page-next").click()
    page.wait_for_function(
        "id => document.querySelector('[data-testid=trace-row]').dataset.traceId === id",
        arg=newest[10],
    )
    assert ids() == newest[10:20]
    page.get_by_test_id("page-prev").click()
    page.wait_for_function(
        "id => document.querySelector('[data-testid=trace-row]').dataset.traceId === id",
        arg=newest[0],
    )

    page.get_by_test_id("filter-user").fill("carol")
    page.get_by_test_id("filter-apply").click()
    carol = [t.id for t in corpus.newest_first("proj-a") if t.user_id == "carol"]
    page.wait_for_function(
        "n => document.querySelectorAll('[data-testid=trace-row]').length === n", arg=len(carol)
    )
    assert ids() == carol
    assert "user_id=carol" in page.url


def test_session_view_lists_its_traces_in_order(page, corpus: Corpus):
    page.goto("/#/sessions")
    page.locator('[data-testid="session-row"][data-session-id="s-1"]').click()
    page.get_by_test_id("session-title").wait_for()
    rows = page.locator('[data-testid="trace-row"]')
    expected = [
        t.id for t in sorted(corpus.of("proj-a"), key=lambda t: t.start_ns) if t.session_id == "s-1"
    ]
    rows.nth(len(expected) - 1).wait_for()
    assert [rows.nth(i).get_attribute("data-trace-id") for i in range(rows.count())] == expected
    text = page.inner_text("main")
    assert "null" not in text and "undefined" not in text and "[object" not in text


def test_health_badge_shows_pipeline_status(page):
    page.goto("/")
    badge = page.get_by_test_id("health-badge")
    page.wait_for_function(
        "() => document.querySelector('[data-testid=health-badge]').dataset.status !== 'unknown'"
    )
    assert badge.get_attribute("data-status") == "healthy"
    assert "consumer alive: true" in badge.get_attribute("title")


def test_live_mode_shows_running_spans_completing_without_reload(page, studio):
    tracer = studio.tracer("proj-a")
    root = tracer.start_span("live_graph", attributes={"session.id": "browser-live"})
    ctx = otel.set_span_in_context(root)
    tracer.start_span("router", context=ctx).end()
    planner = tracer.start_span("planner", context=ctx)
    studio.ingest()
    trace_id = f"{root.get_span_context().trace_id:032x}"

    page.goto(f"/#/traces/{trace_id}")
    page.locator('[data-testid="waterfall-row"][data-name="planner"]').wait_for()
    assert page.get_by_test_id("live-indicator").is_visible()
    assert page.locator('[data-name="planner"]').get_attribute("data-running") == "true"
    page.evaluate("window.__sameDocument = true")

    planner.end()
    tracer.start_span("answer", context=ctx).end()
    root.end()
    studio.ingest()
    page.locator('[data-testid="waterfall-row"][data-name="answer"]').wait_for()
    page.wait_for_function(
        "() => !document.querySelector('[data-testid=waterfall-row][data-running=true]')"
    )
    assert [name for name, _ in waterfall(page)] == ["live_graph", "router", "planner", "answer"]
    assert page.evaluate("window.__sameDocument") is True  # updated in place, no reload
    assert page.get_by_test_id("live-indicator").count() == 0


def test_dev_mode_page_needs_no_key(browser, studio):
    settings = studio.settings.model_copy(update={"auth_disabled": True})
    for base_url in serve(create_app(settings)):
        context = browser.new_context(base_url=base_url)
        context.set_default_timeout(TIMEOUT_MS)
        page = context.new_page()
        try:
            page.goto("/")
            page.wait_for_selector("h1:has-text('Traces')")
            page.wait_for_selector(".empty:has-text('No traces match.')")
            assert page.get_by_test_id("key-dialog").is_hidden()
        finally:
            context.close()
