// SwisperStudio trace browser: a dependency-free single page over the Studio API.
// Views (hash routes): #/traces, #/traces/<id>, #/sessions, #/sessions/<id>.
// All text goes into the DOM through textContent: span payloads are never parsed as HTML.
"use strict";

const KEY_STORAGE = "swisper-studio.api-key";
const LIST_LIVE_MS = 2000;
const HEALTH_MS = 5000;

const state = {
  config: { auth_required: true, live_poll_ms: 1000 },
  timers: [],          // polling timers of the current view
  cursors: [],         // cursor stack of the trace/session list (for "Previous")
  view: 0,             // incremented on each navigation; stale responses are dropped
};

// ---------------------------------------------------------------- small helpers

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "style") el.style.cssText = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function fmtTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  const pad = (n, w = 2) => String(n).padStart(w, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
}

function fmtDuration(ms) {
  if (ms === null || ms === undefined) return "";
  if (ms < 1) return `${ms.toFixed(2)} ms`;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(2)} s`;
  const m = Math.floor(ms / 60000);
  return `${m}m ${Math.round((ms % 60000) / 1000)}s`;
}

function fmtNumber(n) {
  return n === null || n === undefined ? "" : Number(n).toLocaleString();
}

function levelBadge(level, status, running) {
  if (running) return h("span", { class: "badge badge-RUNNING" }, "running");
  if (status === "ERROR" || level === "ERROR") return h("span", { class: "badge badge-ERROR" }, "error");
  if (level === "WARNING") return h("span", { class: "badge badge-WARNING" }, "warning");
  return h("span", { class: "badge badge-OK" }, status === "OK" ? "ok" : "done");
}

function pretty(value) {
  if (value === null || value === undefined) return "null";
  if (typeof value === "string") {
    try { return JSON.stringify(JSON.parse(value), null, 2); } catch (_) { return value; }
  }
  return JSON.stringify(value, null, 2);
}

function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, query] = raw.split("?");
  const parts = path.split("/").filter(Boolean).map(decodeURIComponent);
  return { parts, params: new URLSearchParams(query || "") };
}

function clearTimers() {
  state.timers.forEach(clearTimeout);
  state.timers = [];
}

function later(fn, ms) {
  state.timers.push(setTimeout(fn, ms));
}

// ---------------------------------------------------------------- API access

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, params) {
  const url = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== "" && v !== null && v !== undefined) url.searchParams.set(k, v);
  }
  const headers = { Accept: "application/json" };
  const key = localStorage.getItem(KEY_STORAGE);
  if (state.config.auth_required && key) headers.Authorization = `Bearer ${key}`;
  const resp = await fetch(url, { headers });
  const body = await resp.json().catch(() => ({}));
  if (!resp.ok) {
    const message = (body.error && body.error.message) || body.detail || resp.statusText;
    if (resp.status === 401 && state.config.auth_required) showKeyDialog(message);
    throw new ApiError(resp.status, message);
  }
  return body;
}

function showKeyDialog(message) {
  const dialog = document.getElementById("key-dialog");
  const error = document.getElementById("key-error");
  error.hidden = !message;
  error.textContent = message || "";
  dialog.hidden = false;
  document.getElementById("key-input").focus();
}

function setupKeyDialog() {
  document.getElementById("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = document.getElementById("key-input").value.trim();
    if (!value) return;
    localStorage.setItem(KEY_STORAGE, value);
    document.getElementById("key-dialog").hidden = true;
    refreshHealth();
    render();
  });
  const button = document.getElementById("key-button");
  button.hidden = !state.config.auth_required;
  button.addEventListener("click", () => showKeyDialog(""));
}

// ---------------------------------------------------------------- pipeline health badge

async function refreshHealth() {
  const badge = document.getElementById("health");
  if (state.config.auth_required && !localStorage.getItem(KEY_STORAGE)) return;
  try {
    const s = await api("/api/v1/projects/connection-status");
    badge.className = `badge badge-${s.status}`;
    badge.dataset.status = s.status;
    badge.textContent = `pipeline: ${s.status}`;
    const age = s.heartbeat_age_seconds === null || s.heartbeat_age_seconds === undefined
      ? "none" : `${Number(s.heartbeat_age_seconds).toFixed(1)} s ago`;
    badge.title = [
      `project: ${s.project_id}`,
      `consumer alive: ${s.consumer_alive} (heartbeat ${age})`,
      `stream length: ${s.stream_length ?? "?"}, pending: ${s.pending_events ?? "?"}, ` +
        `lag: ${s.group_lag ?? "?"}, dead-lettered: ${s.dead_lettered ?? "?"}`,
      ...(s.warnings || []),
    ].join("\n");
  } catch (err) {
    badge.className = "badge badge-down";
    badge.dataset.status = "unreachable";
    badge.textContent = "pipeline: unreachable";
    badge.title = err.message;
  }
}

// ---------------------------------------------------------------- trace list

const TRACE_FILTERS = ["q", "session_id", "user_id", "level", "tag", "from", "to", "order"];
const PAGE_SIZE = 50;

function traceRow(t) {
  return h("tr", {
    "data-testid": "trace-row", "data-trace-id": t.id, "data-name": t.name || "",
    "data-running": String(t.running),
    onclick: () => { location.hash = `#/traces/${t.id}`; },
  },
    h("td", { class: "mono", title: t.start_time }, fmtTime(t.start_time)),
    h("td", { title: t.id }, t.name || h("span", { class: "muted" }, "(root pending)")),
    h("td", {}, levelBadge(t.level, t.status, t.running)),
    h("td", { class: "num" }, t.running ? "…" : fmtDuration(t.duration_ms)),
    h("td", { class: "num" }, fmtNumber(t.observation_count)),
    h("td", { class: "num" }, fmtNumber(t.total_tokens)),
    h("td", {}, t.session_id
      ? h("a", { href: `#/sessions/${encodeURIComponent(t.session_id)}`,
        onclick: (e) => e.stopPropagation() }, t.session_id)
      : ""),
    h("td", {}, t.user_id || ""),
    h("td", { class: "muted" }, (t.tags || []).join(", ")),
  );
}

function traceTable(traces) {
  if (!traces.length) return h("div", { class: "empty panel" }, "No traces match.");
  return h("table", { class: "list", "data-testid": "trace-list" },
    h("thead", {}, h("tr", {},
      ["Start", "Name", "Status", "Duration", "Spans", "Tokens", "Session", "User", "Tags"]
        .map((c) => h("th", { class: ["Duration", "Spans", "Tokens"].includes(c) ? "num" : "" }, c)))),
    h("tbody", {}, traces.map(traceRow)));
}

function toLocalInput(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return new Date(d.getTime() - d.getTimezoneOffset() * 60000).toISOString().slice(0, 19);
}

function filterForm(params) {
  const field = (name, label, attrs = {}) => h("label", {}, label,
    h("input", { name, value: params.get(name) || "", ...attrs }));
  const level = h("select", { name: "level" },
    ["", "DEFAULT", "WARNING", "ERROR", "DEBUG"].map((l) =>
      h("option", { value: l, selected: params.get("level") === l }, l || "any")));
  const order = h("select", { name: "order" },
    [["desc", "newest first"], ["asc", "oldest first"]].map(([v, l]) =>
      h("option", { value: v, selected: (params.get("order") || "desc") === v }, l)));
  const form = h("form", { class: "filters", "data-testid": "trace-filters" },
    field("q", "Name contains", { placeholder: "search", "data-testid": "filter-q" }),
    field("session_id", "Session", { "data-testid": "filter-session" }),
    field("user_id", "User", { "data-testid": "filter-user" }),
    h("label", {}, "Level", level),
    field("tag", "Tag"),
    h("label", {}, "From", h("input", { name: "from", type: "datetime-local", step: "1",
      value: toLocalInput(params.get("from")) })),
    h("label", {}, "To", h("input", { name: "to", type: "datetime-local", step: "1",
      value: toLocalInput(params.get("to")) })),
    h("label", {}, "Order", order),
    h("button", { type: "submit", "data-testid": "filter-apply" }, "Apply"),
    h("button", { type: "button", class: "ghost",
      onclick: () => { location.hash = "#/traces"; } }, "Reset"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const next = new URLSearchParams();
    for (const name of TRACE_FILTERS) {
      let value = (form.elements[name] && form.elements[name].value || "").trim();
      if ((name === "from" || name === "to") && value) value = new Date(value).toISOString();
      if (name === "order" && value === "desc") value = "";
      if (value) next.set(name, value);
    }
    const query = next.toString();
    location.hash = `#/traces${query ? `?${query}` : ""}`;
  });
  return form;
}

async function renderTraceList(view, params) {
  const root = document.getElementById("view");
  const live = h("input", { type: "checkbox", "data-testid": "live-toggle",
    checked: localStorage.getItem("swisper-studio.live") !== "false" });
  live.addEventListener("change", () => {
    localStorage.setItem("swisper-studio.live", String(live.checked));
    clearTimers();
    if (live.checked) load(currentCursor());
  });
  const body = h("div", {}, h("div", { class: "empty" }, "Loading…"));
  const pager = h("div", { class: "pager" });
  root.replaceChildren(
    h("h1", {}, "Traces"),
    filterForm(params),
    h("div", { class: "filters" }, h("label", { class: "check" }, live, "Live (refresh every 2 s)")),
    body, pager);

  state.cursors = [];
  let lastJson = "";
  const currentCursor = () => state.cursors[state.cursors.length - 1] || null;

  async function load(cursor) {
    const query = { limit: params.get("limit") || PAGE_SIZE };
    for (const name of TRACE_FILTERS) if (params.get(name)) query[name] = params.get(name);
    if (cursor) query.cursor = cursor;
    let page;
    try {
      page = await api("/api/v1/traces", query);
    } catch (err) {
      if (view !== state.view) return;
      body.replaceChildren(h("div", { class: "empty panel error" }, err.message));
      return;
    }
    if (view !== state.view) return;
    const json = JSON.stringify(page);
    if (json !== lastJson) {
      lastJson = json;
      body.replaceChildren(traceTable(page.data));
      pager.replaceChildren(
        h("button", { class: "ghost", disabled: !state.cursors.length, "data-testid": "page-prev",
          onclick: () => { state.cursors.pop(); load(currentCursor()); } }, "← Previous"),
        h("button", { class: "ghost", disabled: !page.next_cursor, "data-testid": "page-next",
          onclick: () => { state.cursors.push(page.next_cursor); load(page.next_cursor); } }, "Next →"),
        h("span", { class: "muted" }, `page ${state.cursors.length + 1}`));
    }
    if (live.checked && !cursor) later(() => load(currentCursor()), LIST_LIVE_MS);
  }
  await load(null);
}

// ---------------------------------------------------------------- trace view

function flattenTree(nodes, collapsed, out = []) {
  for (const node of nodes) {
    out.push(node);
    if (!collapsed.has(node.id)) flattenTree(node.children, collapsed, out);
  }
  return out;
}

// Where a bar's duration label goes: after the bar, inside its right end, or before it.
function durationPlace(left, width) {
  if (left + width <= 80) return "after";
  return width >= 18 ? "inside" : "before";
}

function durationStyle(left, width) {
  const right = Math.min(left + width, 100);
  switch (durationPlace(left, width)) {
    case "after": return `left:${right + 0.5}%`;
    case "inside": return `right:${100 - right + 0.8}%`;
    default: return `right:${100 - left + 0.5}%`;
  }
}

function waterfall(trace, selectedId, collapsed, onSelect, onToggle) {
  const t0 = Date.parse(trace.start_time);
  const now = Date.now();
  let tEnd = trace.end_time ? Date.parse(trace.end_time) : t0;
  for (const o of trace.observations) {
    tEnd = Math.max(tEnd, o.end_time ? Date.parse(o.end_time) : Math.max(now, Date.parse(o.start_time)));
  }
  const total = Math.max(tEnd - t0, 1);
  const rows = flattenTree(trace.tree, collapsed).map((node) => {
    const start = Date.parse(node.start_time) - t0;
    const end = node.end_time ? Date.parse(node.end_time) - t0 : Math.max(now - t0, start);
    const left = Math.min(Math.max(start / total, 0), 1) * 100;
    const width = Math.max(((end - start) / total) * 100, 0.3);
    const caret = node.children.length
      ? h("span", { class: "caret", onclick: (e) => { e.stopPropagation(); onToggle(node.id); } },
        collapsed.has(node.id) ? "▸" : "▾")
      : h("span", { class: "caret" }, "");
    const label = node.running ? "running…" : fmtDuration(node.duration_ms);
    return h("div", {
      class: `wf-row${node.id === selectedId ? " selected" : ""}`,
      "data-testid": "waterfall-row", "data-id": node.id, "data-name": node.name,
      "data-depth": node.depth, "data-type": node.type, "data-running": String(node.running),
      onclick: () => onSelect(node.id),
    },
      h("div", { class: "wf-label", style: `padding-left:${node.depth * 16}px` }, caret,
        h("span", { class: "badge badge-type" }, node.type),
        h("span", { class: "name", title: node.name }, node.name)),
      h("div", { class: "wf-track" },
        h("div", { class: `wf-bar t-${node.type} level-${node.level}${node.running ? " running" : ""}`,
          style: `left:${left}%;width:${Math.min(width, 100 - left)}%` }),
        h("span", { class: `wf-dur${durationPlace(left, width) === "inside" ? " inside" : ""}`,
          style: durationStyle(left, width) }, label)));
  });
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => h("span", {}, fmtDuration(total * f)));
  return h("div", { class: "panel waterfall", "data-testid": "waterfall" },
    h("div", { class: "wf-axis" }, h("span", {}, "span"), h("div", { class: "ticks" }, ticks)),
    rows);
}

function jsonBlock(title, value, testid) {
  return h("div", { class: "json-block" }, h("h3", {}, title),
    h("pre", { class: "json", "data-testid": testid }, pretty(value)));
}

function spanDetail(o) {
  if (!o) return h("div", { class: "panel detail muted" }, "Select a span.");
  const facts = [
    ["id", o.id], ["parent", o.parent_observation_id || "—"], ["start", fmtTime(o.start_time)],
    ["duration", o.running ? "running…" : fmtDuration(o.duration_ms)],
    ["status", `${o.status_code}${o.status_message ? ` — ${o.status_message}` : ""}`],
    ["level", o.level],
  ];
  if (o.model) facts.push(["model", o.model]);
  if (o.langgraph_node) facts.push(["node / step", `${o.langgraph_node} / ${o.langgraph_step ?? "?"}`]);
  if (o.total_tokens !== null || o.input_tokens !== null) {
    facts.push(["tokens", `${fmtNumber(o.input_tokens)} in · ${fmtNumber(o.output_tokens)} out · ` +
      `${fmtNumber(o.total_tokens)} total`]);
  }
  return h("div", { class: "panel detail", "data-testid": "span-detail", "data-id": o.id },
    h("h2", {}, h("span", { class: "badge badge-type" }, o.type), o.name,
      levelBadge(o.level, o.status_code, o.running)),
    h("dl", {}, facts.map(([k, v]) => [h("dt", {}, k), h("dd", { class: "mono" }, v)])),
    jsonBlock("Input", o.input, "span-input"),
    jsonBlock("Output", o.output, "span-output"),
    o.usage ? jsonBlock("Token usage", o.usage, "span-usage") : null,
    o.model_parameters ? jsonBlock("Model parameters", o.model_parameters, "span-model-params") : null,
    jsonBlock("Metadata", o.metadata, "span-metadata"),
    o.events && o.events.length ? jsonBlock("Events", o.events, "span-events") : null);
}

async function renderTrace(view, traceId) {
  const root = document.getElementById("view");
  root.replaceChildren(h("div", { class: "empty" }, "Loading…"));
  const collapsed = new Set();
  let trace = null;
  let selectedId = null;
  let lastJson = "";

  function draw() {
    const byId = Object.fromEntries(trace.observations.map((o) => [o.id, o]));
    if (!selectedId || !byId[selectedId]) selectedId = trace.tree.length ? trace.tree[0].id : null;
    const live = trace.running
      ? h("span", { class: "badge badge-RUNNING", "data-testid": "live-indicator" },
        h("span", { class: "live-dot" }), "live")
      : null;
    root.replaceChildren(
      h("div", { class: "trace-head" },
        h("h1", { "data-testid": "trace-title" }, trace.name || "(root span pending)"),
        levelBadge(trace.level, trace.status, trace.running), live),
      h("div", { class: "facts" },
        h("span", {}, "trace ", h("b", { class: "mono" }, trace.id)),
        h("span", {}, "start ", h("b", {}, fmtTime(trace.start_time))),
        h("span", {}, "duration ", h("b", {}, trace.running ? "running…" : fmtDuration(trace.duration_ms))),
        h("span", {}, "spans ", h("b", {}, trace.observation_count)),
        h("span", {}, "tokens ", h("b", {}, fmtNumber(trace.total_tokens) || "—")),
        trace.session_id ? h("span", {}, "session ", h("a", {
          href: `#/sessions/${encodeURIComponent(trace.session_id)}` }, trace.session_id)) : null,
        trace.user_id ? h("span", {}, "user ", h("b", {}, trace.user_id)) : null),
      h("p", {}),
      h("div", { class: "trace-body" },
        waterfall(trace, selectedId, collapsed,
          (id) => { selectedId = id; draw(); },
          (id) => { collapsed.has(id) ? collapsed.delete(id) : collapsed.add(id); draw(); }),
        spanDetail(byId[selectedId])));
  }

  async function load() {
    try {
      const next = await api(`/api/v1/traces/${encodeURIComponent(traceId)}`);
      if (view !== state.view) return;
      const json = JSON.stringify(next);
      trace = next;
      if (json !== lastJson || trace.running) { lastJson = json; draw(); }
    } catch (err) {
      if (view !== state.view) return;
      if (!trace) {
        root.replaceChildren(h("div", { class: "empty panel error", "data-testid": "error" },
          err.status === 404 ? `Trace ${traceId} not found.` : err.message));
      }
    }
    // Live mode: poll while anything runs (and once more after, to show the final state).
    if (trace && trace.running) later(load, state.config.live_poll_ms || 1000);
  }
  await load();
}

// ---------------------------------------------------------------- sessions

async function renderSessionList(view, params) {
  const root = document.getElementById("view");
  const body = h("div", {}, h("div", { class: "empty" }, "Loading…"));
  const pager = h("div", { class: "pager" });
  const search = h("input", { name: "q", value: params.get("q") || "", placeholder: "session id contains" });
  const form = h("form", { class: "filters" }, h("label", {}, "Session", search),
    h("button", { type: "submit" }, "Search"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const q = search.value.trim();
    location.hash = q ? `#/sessions?q=${encodeURIComponent(q)}` : "#/sessions";
  });
  root.replaceChildren(h("h1", {}, "Sessions"), form, body, pager);
  state.cursors = [];

  async function load(cursor) {
    let page;
    try {
      page = await api("/api/v1/sessions", { q: params.get("q"), limit: 50, cursor });
    } catch (err) {
      if (view === state.view) body.replaceChildren(h("div", { class: "empty panel error" }, err.message));
      return;
    }
    if (view !== state.view) return;
    body.replaceChildren(page.data.length ? h("table", { class: "list", "data-testid": "session-list" },
      h("thead", {}, h("tr", {}, ["Session", "Traces", "First", "Last", "Users", "Errors"].map((c) => h("th", {}, c)))),
      h("tbody", {}, page.data.map((s) => h("tr", {
        "data-testid": "session-row", "data-session-id": s.session_id,
        onclick: () => { location.hash = `#/sessions/${encodeURIComponent(s.session_id)}`; },
      },
        h("td", { class: "mono" }, s.session_id), h("td", { class: "num" }, s.trace_count),
        h("td", {}, fmtTime(s.first_trace_at)), h("td", {}, fmtTime(s.last_trace_at)),
        h("td", {}, s.user_ids.join(", ")), h("td", { class: "num" }, s.error_count || ""))))) :
      h("div", { class: "empty panel" }, "No sessions yet (traces carry a session from configurable.thread_id)."));
    pager.replaceChildren(
      h("button", { class: "ghost", disabled: !state.cursors.length,
        onclick: () => { state.cursors.pop(); load(state.cursors[state.cursors.length - 1]); } }, "← Previous"),
      h("button", { class: "ghost", disabled: !page.next_cursor,
        onclick: () => { state.cursors.push(page.next_cursor); load(page.next_cursor); } }, "Next →"));
  }
  await load(null);
}

async function renderSession(view, sessionId) {
  const root = document.getElementById("view");
  root.replaceChildren(h("div", { class: "empty" }, "Loading…"));
  let session;
  try {
    session = await api(`/api/v1/sessions/${encodeURIComponent(sessionId)}`, { limit: 1000 });
  } catch (err) {
    if (view === state.view) {
      root.replaceChildren(h("div", { class: "empty panel error" },
        err.status === 404 ? `Session ${sessionId} not found.` : err.message));
    }
    return;
  }
  if (view !== state.view) return;
  root.replaceChildren(
    h("h1", { "data-testid": "session-title" }, `Session ${session.session_id}`),
    h("div", { class: "facts" },
      h("span", {}, "traces ", h("b", {}, session.trace_count)),
      h("span", {}, "first ", h("b", {}, fmtTime(session.first_trace_at))),
      h("span", {}, "last ", h("b", {}, fmtTime(session.last_trace_at))),
      h("span", {}, "users ", h("b", {}, session.user_ids.join(", ") || "—"))),
    h("p", {}),
    traceTable(session.traces),
    h("p", { class: "muted" }, session.next_cursor ? "Showing the first 1000 traces." : ""));
}

// ---------------------------------------------------------------- router

async function render() {
  clearTimers();
  state.view += 1;
  const view = state.view;
  const { parts, params } = parseHash();
  const section = parts[0] || "traces";
  document.querySelectorAll("[data-nav]").forEach((a) =>
    a.classList.toggle("active", a.dataset.nav === section));
  if (state.config.auth_required && !localStorage.getItem(KEY_STORAGE)) {
    showKeyDialog("");
    return;
  }
  if (section === "sessions") {
    return parts[1] ? renderSession(view, parts[1]) : renderSessionList(view, params);
  }
  return parts[1] ? renderTrace(view, parts[1]) : renderTraceList(view, params);
}

async function main() {
  try {
    const resp = await fetch("/api/config");
    if (resp.ok) state.config = await resp.json();
  } catch (_) { /* keep defaults: auth required */ }
  setupKeyDialog();
  window.addEventListener("hashchange", render);
  refreshHealth();
  setInterval(refreshHealth, HEALTH_MS);
  render();
}

main();
