// The live console of `gwa serve`: start runs, watch their events as they happen, talk to a
// run, stop it, switch idle thinking, answer its approval question. Every text from a run is
// shown with textContent (never parsed as HTML).
"use strict";
const $ = (id) => document.getElementById(id);
const token = (() => {
  const m = location.hash.match(/token=([^&]+)/);
  if (m) sessionStorage.setItem("gwa-token", decodeURIComponent(m[1]));
  return sessionStorage.getItem("gwa-token") || "";
})();
const state = { run: null, source: null, agents: {} };

async function api(path, method = "GET", body = undefined) {
  const response = await fetch(path, {
    method, headers: { "Authorization": `Bearer ${token}`, "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const data = await response.json();
  if (!response.ok) throw new Error(data.error ? data.error.message : `HTTP ${response.status}`);
  return data;
}

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (cls) node.className = cls;
  return node;
}

function summary(e) {
  if (e.event === "proposal") return `${e.candidate}: ${e.text}${e.action ? ` ⟶ ${e.action.tool} ${JSON.stringify(e.action.arguments)}` : ""}`;
  if (e.event === "critique") return `${e.candidate} ${e.score}: ${e.reason || ""}`;
  if (e.event === "selection") return `winner ${e.winner || "none"} (${e.tag}) ${e.text || ""}`;
  if (e.event === "response") return e.answer;
  if (e.event === "tool.result") return e.ok ? `${e.tool}: ${e.result}` : `${e.tool} failed: ${e.error}`;
  if (e.event === "run.pause") return `${e.question} ${e.text}`;
  if (e.event === "agent.error") return `${e.error_type}: ${e.error}`;
  if (e.event === "run.end") return `${e.status}: ${e.reason}`;
  return Object.entries(e).filter(([k]) => !["v", "ts", "run", "seq", "cycle", "event", "agent"].includes(k))
    .map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`).join(" ").slice(0, 300);
}

function showEvent(e) {
  const text = summary(e);
  const item = el("li", `#${e.seq} c${e.cycle ?? "-"} ${e.event}${e.agent ? ` (${e.agent})` : ""} ${text}`,
    e.event === "agent.error" || (e.event === "tool.result" && !e.ok) ? "error" : "");
  item.dataset.kind = e.event;
  $("events").append(item);
  if (e.agent && ["proposal", "critique", "response", "selection"].includes(e.event)) {
    if (state.live) delete state.live[e.agent];
    state.agents[e.agent] = text;
    renderAgents();
  }
  if (e.event === "response") $("answer").textContent = `Answer: ${e.answer}`;
  if (e.event === "run.pause") showPause(e);
  if (e.event === "run.resume" && e.decision) $("approval").hidden = true;
  if (e.event === "run.end") $("status").textContent = e.status;
}

// An agent's output as it is generated: appended to its row until its whole output arrives.
function streamed(agent, text) {
  const key = `${agent}`;
  const live = state.live || (state.live = {});
  live[key] = (live[key] || "") + text;
  state.agents[agent] = live[key];
  renderAgents();
}

function renderAgents() {
  $("agents").tBodies[0].replaceChildren(...Object.entries(state.agents).map(([name, text]) => {
    const row = el("tr"); row.dataset.agent = name;
    row.append(el("td", name), el("td", text));
    return row;
  }));
}

function showPause(p) {
  $("approval").hidden = false;
  $("question").textContent = p.question;
  $("pending-text").textContent = p.text;
}

function follow(run) {
  if (state.source) state.source.close();
  state.run = run.id; state.agents = {};
  $("run").hidden = false;
  $("run-title").textContent = `${run.scenario} · ${run.id}`;
  $("goal-text").textContent = run.goal;
  $("status").textContent = run.status;
  $("answer").textContent = run.answer ? `Answer: ${run.answer}` : "";
  $("approval").hidden = true;
  $("events").replaceChildren(); renderAgents();
  const source = new EventSource(`/api/runs/${encodeURIComponent(run.id)}/events?token=${encodeURIComponent(token)}`);
  source.onmessage = (message) => {
    const e = JSON.parse(message.data);
    if (e.event === "end") { $("status").textContent = e.run.status; source.close(); return; }
    if (e.event === "token") { streamed(e.agent, e.text); return; }
    showEvent(e);
  };
  state.source = source;
}

async function refresh() {
  try {
    const data = await api("/api/runs");
    $("conn").textContent = "connected";
    const select = $("scenario");
    if (!select.options.length) for (const name of Object.keys(data.scenarios)) select.append(el("option", name));
    $("runs").replaceChildren(...data.runs.map((r) => {
      const item = el("li", `${r.scenario} · ${r.status} · ${r.goal.slice(0, 60)}`, r.id === state.run ? "selected" : "");
      item.dataset.run = r.id;
      item.onclick = () => follow(r);
      return item;
    }));
    const current = data.runs.find((r) => r.id === state.run);
    if (current) $("status").textContent = current.status;
  } catch (err) { $("conn").textContent = `not connected: ${err.message}`; }
}

$("start").onsubmit = async (ev) => {
  ev.preventDefault();
  const goal = $("goal").value.trim();
  const run = await api("/api/runs", "POST", { scenario: $("scenario").value, ...(goal ? { goal } : {}) });
  follow(run); refresh();
};
$("talk").onsubmit = async (ev) => {
  ev.preventDefault();
  const text = $("input").value.trim();
  if (!text || !state.run) return;
  await api(`/api/runs/${state.run}/input`, "POST", { text });
  $("input").value = "";
};
$("stop").onclick = () => state.run && api(`/api/runs/${state.run}/stop`, "POST", {});
$("idle").onchange = () => state.run && api(`/api/runs/${state.run}/idle`, "POST", { enabled: $("idle").checked });
async function decide(verdict) {
  const text = $("approval-text").value.trim();
  await api(`/api/runs/${state.run}/decision`, "POST", { verdict, ...(text ? { text } : {}) });
  $("approval").hidden = true;
  const run = await api(`/api/runs/${state.run}`);
  follow(run);
}
$("approve").onclick = () => decide("approve");
$("edit").onclick = () => decide("edit");
$("reject").onclick = () => decide("reject");
refresh();
setInterval(refresh, 2000);
