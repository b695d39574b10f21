// GWA trace viewer. Every piece of trace content is set with textContent or
// createTextNode (never innerHTML), so a trace cannot inject markup or script.
"use strict";

const PAGE = 200;
const state = {
  a: null, b: null, cycles: [], index: 0, page: 0, live: false,
  filter: { agent: "", role: "", kind: "", text: "" }, textHits: null, cache: new Map(),
};

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("data-")) node.setAttribute(key, value);
    else if (key === "title") node.title = value;
    else if (key === "onclick") node.addEventListener("click", value);
  }
  for (const child of children) node.append(child);   // strings become text nodes
  return node;
}
function svg(tag, attrs = {}) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  return node;
}
const $ = (id) => document.getElementById(id);
const str = (v) => (v === null || v === undefined ? "–" : String(v));
// The summary comes columnar (one list per field); turn it into one object per cycle.
function rows(s) {
  const c = s.columns;
  return c.cycle.map((cycle, i) => ({
    cycle, temperature: c.temperature[i], h: c.h[i], winner: c.winner[i], agent: c.agent[i], tag: c.tag[i],
    text: c.text[i], proposals: c.proposals[i], errors: c.errors[i], deadlock: c.deadlock[i],
    agents: c.agents[i].map((k) => s.names[k]), events: c.events[i].map((k) => s.kinds[k]),
  }));
}
async function api(path) {
  const response = await fetch(path);
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}

function renderSummary(s) {
  const dl = $("summary");
  dl.replaceChildren();
  const facts = [["scenario", s.scenario], ["run", s.run], ["status", s.status || (s.done ? "–" : "running")],
    ["reason", s.reason], ["cycles", s.total_cycles], ["tokens", s.tokens.toLocaleString()],
    ["duration", s.duration_s == null ? "–" : `${s.duration_s} s`], ["events", s.events]];
  for (const [k, v] of facts) dl.append(el("div", {}, el("dt", { text: k }), el("dd", { text: str(v), "data-fact": k })));
  $("answer").textContent = s.answer ? `Answer: ${s.answer}` : (s.goal ? `Goal: ${s.goal}` : "");
  const gaps = (s.resumes || []).map((r) => el("li", { "data-resume": r.checkpoint, text:
    `${r.fork ? "forked from" : "resumed from"} ${r.checkpoint}` +
    (r.decision ? ` (${r.decision})` : "") +
    (r.lost_events ? `: ${r.lost_events} event(s) of cycle(s) ${r.lost_cycles.join(", ")} lost and done again` : "") }));
  if (s.pause) gaps.push(el("li", { "data-pause": s.pause.point, text: `paused, asking: ${s.pause.question} ${s.pause.text}` }));
  $("resume-list").replaceChildren(...gaps);
  $("resumes").hidden = gaps.length === 0;
  const list = $("error-list");
  list.replaceChildren(...s.errors.map((e) => el("li", { text: `line ${e.line}: ${e.message}` })));
  $("errors").hidden = s.errors.length === 0;
}

function fillSelect(id, values) {
  const select = $(id);
  const current = select.value;
  select.replaceChildren(el("option", { text: "all" }));
  select.firstChild.value = "";
  for (const v of values) { const o = el("option", { text: v }); o.value = v; select.append(o); }
  select.value = current;
}

function roleAgents(role) {
  return Object.entries(state.a.agents || {}).filter(([, r]) => r === role).map(([a]) => a);
}

function matches(c) {
  const f = state.filter;
  if (f.agent && !c.agents.includes(f.agent)) return false;
  if (f.role && !roleAgents(f.role).some((a) => c.agents.includes(a))) return false;
  if (f.kind && !c.events.includes(f.kind)) return false;
  if (state.textHits && !state.textHits.has(c.cycle)) return false;
  return true;
}

function visibleCycles() { return state.cycles.filter(matches); }

function renderTimeline() {
  const shown = visibleCycles();
  const pages = Math.max(1, Math.ceil(shown.length / PAGE));
  state.page = Math.min(state.page, pages - 1);
  const slice = shown.slice(state.page * PAGE, (state.page + 1) * PAGE);
  const current = state.cycles[state.index];
  $("timeline").replaceChildren(...slice.map((c) => {
    const li = el("li", { "data-cycle": String(c.cycle), title: c.text || "",
      onclick: () => select(state.cycles.indexOf(c)) },
      el("span", { class: `tag ${c.tag || ""}`, text: c.tag === "RESPOND" ? "RESPOND" : str(c.cycle) }),
      c.text ? `${c.agent}: ${c.text}` : "(no winner)");
    if (c.deadlock) li.classList.add("deadlock");
    if (current && c.cycle === current.cycle) li.classList.add("current");
    return li;
  }));
  $("cycle-count").textContent = `(${shown.length} of ${state.cycles.length})`;
  renderComparePage();
  $("page-info").textContent = `page ${state.page + 1} / ${pages}`;
}

function renderChart() {
  const chart = $("chart");
  chart.replaceChildren();
  const cycles = state.cycles;
  if (cycles.length === 0) return;
  const W = 600, H = 180, n = cycles.length, step = Math.max(1, Math.floor(n / 1500));
  const x = (i) => (n === 1 ? W / 2 : (i / (n - 1)) * W);
  const pts = (get, scale) => cycles.map((c, i) => [i, get(c)]).filter(([i, v]) => i % step === 0 && v != null)
    .map(([i, v]) => `${x(i).toFixed(1)},${(H - (v / scale) * H).toFixed(1)}`).join(" ");
  chart.append(svg("polyline", { class: "t", points: pts((c) => c.temperature, 2) }));
  chart.append(svg("polyline", { class: "h", points: pts((c) => c.h, 1) }));
  cycles.forEach((c, i) => { if (c.deadlock) chart.append(svg("line", { class: "d", x1: x(i), x2: x(i), y1: 0, y2: H })); });
  chart.append(svg("line", { class: "now", x1: x(state.index), x2: x(state.index), y1: 0, y2: H }));
}

function eventText(e) {
  const skip = new Set(["v", "ts", "run", "seq", "cycle", "event", "agent", "_line"]);
  return Object.entries(e).filter(([k]) => !skip.has(k))
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`).join("  ");
}

function eventVisible(e) {
  const f = state.filter;
  if (f.agent && e.agent !== f.agent) return false;
  if (f.role && !roleAgents(f.role).includes(e.agent)) return false;
  if (f.kind && e.event !== f.kind) return false;
  return true;
}

async function cycleEvents(run, n) {
  const key = `${run}:${n}`;
  if (!state.cache.has(key) || state.live) state.cache.set(key, (await api(`/api/cycle?run=${run}&n=${n}`)).events);
  return state.cache.get(key);
}

async function renderDetail() {
  const c = state.cycles[state.index];
  if (!c) return;
  $("position").textContent = `cycle ${c.cycle} of ${state.cycles.length}`;
  $("detail-title").textContent = `Cycle ${c.cycle}`;
  const events = await cycleEvents("a", c.cycle);
  const broadcast = events.find((e) => e.event === "broadcast");
  $("broadcast").replaceChildren(...(broadcast ? [
    ...(broadcast.working_memory || []).map((m) => el("li", { text: `(${m.kind}, ${m.author}) ${m.text}` })),
    ...(broadcast.inputs || []).map((t) => el("li", { text: `input: ${t}` })),
  ] : [el("li", { text: "no broadcast event" })]));
  const selection = events.find((e) => e.event === "selection") || {};
  const scores = selection.scores || {};
  const critiques = events.filter((e) => e.event === "critique");
  $("proposals").tBodies[0].replaceChildren(...events.filter((e) => e.event === "proposal").map((p) => {
    const crit = critiques.filter((k) => k.candidate === p.candidate).map((k) => `${k.agent}: ${k.score > 0 ? "+" : ""}${k.score} ${k.reason || ""}`).join("\n");
    const row = el("tr", { "data-candidate": p.candidate },
      el("td", { text: p.candidate }), el("td", { text: str(p.agent) }), el("td", { class: "thought", text: p.text + (p.action ? `  ⟶ ${p.action.tool} ${JSON.stringify(p.action.arguments)}` : "") }),
      el("td", { class: "thought", text: crit || "–" }), el("td", { text: str(scores[p.candidate]) }),
      el("td", { text: p.candidate === selection.winner ? `winner ${selection.tag}` : "" }));
    if (p.candidate === selection.winner) row.classList.add("winner");
    return row;
  }));
  $("events").replaceChildren(...events.filter(eventVisible).map((e) => el("li", { class: e.event === "agent.error" || (e.event === "tool.result" && !e.ok) ? "error" : "" },
    el("span", { class: "kind", text: e.event }), e.agent ? `${e.agent}  ` : "", eventText(e))));
  renderTimeline();
  renderChart();
  renderCompareMark();
}

function select(i) {
  if (i < 0 || i >= state.cycles.length) return;
  state.index = i;
  const pos = visibleCycles().indexOf(state.cycles[i]);
  if (pos >= 0) state.page = Math.floor(pos / PAGE);
  renderDetail();
}

function step(delta) {
  const shown = visibleCycles();
  const pos = shown.indexOf(state.cycles[state.index]);
  const next = shown[Math.min(shown.length - 1, Math.max(0, pos + delta))];
  if (next) select(state.cycles.indexOf(next));
}

const memory = { events: [], total: 0 };
async function moreMemory() {
  const data = await api(`/api/memory?run=a&offset=${memory.events.length}&limit=300`);
  renderMemory(data);
}
function renderMemory(data) {
  memory.events.push(...data.events);
  memory.total = data.total;
  data = { events: memory.events };
  $("memory-info").textContent = `${memory.events.length} of ${memory.total} memory events`;
  $("memory-more").hidden = memory.events.length >= memory.total;
  const items = data.events.map((e) => {
    let text;
    if (e.event === "memory.retrieve") text = `${(e.queries || []).join(" | ")} → ${(e.memories || []).map((m) => `${m.id} (${m.score}) ${m.text || ""}`).join("; ") || "nothing"}`;
    else if (e.event === "memory.admit" || e.event === "memory.reject") text = `${e.memory_id || e.candidate || ""}${e.source === "proposal" ? " (runner-up proposal)" : ""} p=${str(e.p)} ${e.reason || ""} ${e.text || ""}`;
    else if (e.event === "memory.consolidate") text = `${(e.evicted || []).join(", ")} → ${e.summary}: ${e.text || ""}`;
    else text = eventText(e);
    const item = el("li", { "data-kind": e.event }, el("span", { class: "kind", text: `${e.cycle ?? "–"} ${e.event}` }), text);
    if (e.features && typeof e.features === "object") {
      // What the admission policy saw: the non-zero features, largest first.
      const shown = Object.entries(e.features)
        .filter(([k, v]) => k !== "bias" && typeof v === "number" && v !== 0)
        .sort((x, y) => Math.abs(y[1]) - Math.abs(x[1]));
      item.append(el("details", { class: "features" }, el("summary", { text: "features" }), shown.map(([k, v]) => `${k} ${v}`).join(" · ")));
    }
    return item;
  });
  $("memory").replaceChildren(...(items.length ? items : [el("li", { text: "no memory events in this trace" })]));
  renderGraph(data.events);
}

function renderGraph(events) {
  const nodes = new Map(), edges = [];
  const node = (id) => { if (id && !nodes.has(id) && nodes.size < 200) nodes.set(id, nodes.size); return nodes.has(id); };
  for (const e of events) {
    if (e.event === "memory.retrieve") (e.memories || []).forEach((m) => node(m.id));
    if (e.event === "memory.admit") {
      node(e.memory_id);
      for (const link of e.links || []) if (node(link.target) && node(e.memory_id)) edges.push([e.memory_id, link.target, link.type]);
    }
    if (e.event === "memory.consolidate") for (const id of e.evicted || []) if (node(id) && node(e.summary)) edges.push([e.summary, id, "derived_from"]);
  }
  const g = $("graph");
  g.replaceChildren();
  const n = nodes.size, pos = new Map();
  for (const [id, i] of nodes) pos.set(id, [150 + 120 * Math.cos((2 * Math.PI * i) / Math.max(n, 1)), 150 + 120 * Math.sin((2 * Math.PI * i) / Math.max(n, 1))]);
  for (const [a, b, type] of edges) {
    const line = svg("line", { x1: pos.get(a)[0], y1: pos.get(a)[1], x2: pos.get(b)[0], y2: pos.get(b)[1] });
    line.append(svg("title")); line.lastChild.textContent = type; g.append(line);
  }
  for (const [id, [x, y]] of pos) {
    const c = svg("circle", { cx: x, cy: y, r: 4, "data-memory": id });
    c.append(svg("title")); c.lastChild.textContent = id; g.append(c);
    const label = svg("text", { x: x + 5, y: y - 5 }); label.textContent = id; g.append(label);
  }
  g.setAttribute("data-nodes", String(n));
}

async function renderCompare() {
  if (!state.b) return;
  $("compare").hidden = false;
  const byCycle = new Map(rows(state.b).map((c) => [c.cycle, c]));
  let first = null;
  const lines = state.cycles.map((c) => {
    const other = byCycle.get(c.cycle);
    const differs = !other || other.text !== c.text;
    if (differs && first === null) first = c.cycle;
    const row = el("tr", { "data-cycle": String(c.cycle) }, el("td", { text: String(c.cycle) }),
      el("td", { text: c.text || "(none)" }), el("td", { text: other ? other.text || "(none)" : "(no cycle)" }));
    if (differs) row.classList.add("diverged");
    return row;
  });
  state.compareRows = lines;
  renderComparePage();
  $("divergence").textContent = first === null ? "The runs chose the same winners in every cycle."
    : `The runs diverge at cycle ${first}.`;
  $("divergence").setAttribute("data-first", first === null ? "" : String(first));
}
function renderComparePage() {
  if (!state.compareRows) return;
  const shown = new Set(visibleCycles().slice(state.page * PAGE, (state.page + 1) * PAGE).map((c) => String(c.cycle)));
  $("compare-table").tBodies[0].replaceChildren(...state.compareRows.filter((row) => shown.has(row.dataset.cycle)));
}
function renderCompareMark() {
  for (const row of $("compare-table").tBodies[0].rows) row.style.outline = row.dataset.cycle === String(state.cycles[state.index]?.cycle) ? "2px solid #1d4ed8" : "";
}

async function searchText(q) {
  state.textHits = q ? new Set((await api(`/api/search?run=a&q=${encodeURIComponent(q)}`)).cycles) : null;
  state.page = 0;
  renderTimeline();
}

async function poll() {
  const s = await api(`/api/summary?run=a&since=${state.cycles.length}`);
  const following = state.index >= state.cycles.length - 1;
  const fresh = rows(s);
  state.cycles.push(...fresh);
  if (fresh.length && state.cycles.length > 0) {
    const last = state.cycles.length - 1;
    state.cache.delete(`a:${state.cycles[last].cycle}`);
  }
  state.a = { ...state.a, ...s, cycles: state.cycles };
  renderSummary({ ...s, cycles: state.cycles });
  if (fresh.length) { if (following) select(state.cycles.length - 1); else renderTimeline(); }
  if (!s.done) setTimeout(poll, 1000);
  else $("live").textContent = "● finished";
}

async function main() {
  const [runs, summary, memory] = await Promise.all([
    api("/api/runs"), api("/api/summary?run=a"), api("/api/memory?run=a&limit=300")]);
  state.live = runs.live;
  state.a = summary;
  state.cycles = rows(state.a);
  if (runs.runs.b) state.b = await api("/api/summary?run=b");
  renderSummary(state.a);
  const agents = Object.keys(state.a.agents || {});
  fillSelect("f-agent", agents.length ? agents : [...state.a.names].sort());
  fillSelect("f-role", [...new Set(Object.values(state.a.agents || {}))].sort());
  fillSelect("f-kind", [...state.a.kinds].sort());
  for (const [id, key] of [["f-agent", "agent"], ["f-role", "role"], ["f-kind", "kind"]]) {
    $(id).addEventListener("change", () => { state.filter[key] = $(id).value; state.page = 0; renderDetail(); });
  }
  let timer = null;
  $("f-text").addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(() => searchText($("f-text").value.trim()), 200); });
  $("prev").addEventListener("click", () => step(-1));
  $("next").addEventListener("click", () => step(1));
  $("memory-more").addEventListener("click", moreMemory);
  $("page-prev").addEventListener("click", () => { state.page = Math.max(0, state.page - 1); renderTimeline(); });
  $("page-next").addEventListener("click", () => { state.page += 1; renderTimeline(); });
  document.addEventListener("keydown", (e) => {
    if (e.target instanceof HTMLInputElement || e.target instanceof HTMLSelectElement) return;
    if (e.key === "ArrowRight") step(1);
    else if (e.key === "ArrowLeft") step(-1);
    else if (e.key === "Home") select(0);
    else if (e.key === "End") select(state.cycles.length - 1);
  });
  await renderCompare();
  if (state.cycles.length) await renderDetail(); else renderTimeline();
  renderMemory(memory);
  if (state.live) { $("live").hidden = false; if (!state.a.done) setTimeout(poll, 1000); }
  document.body.dataset.ready = "1";
}

main().catch((err) => {
  $("errors").hidden = false;
  $("error-list").replaceChildren(el("li", { text: `The viewer could not load the trace: ${err.message}` }));
  document.body.dataset.ready = "error";
});
