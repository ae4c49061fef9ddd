// The dashboard page: the history once, then one snapshot per event from /api/events.
"use strict";

const KEPT = 600;
const history = [];
const SVG = "http://www.w3.org/2000/svg";

function byId(id) { return document.getElementById(id); }

function text(id, value) {
  const element = byId(id);
  if (element) element.textContent = value;
}

function number(value, digits = 1) {
  if (value === undefined || value === null || Number.isNaN(value)) return "–";
  return Number(value).toLocaleString("en", { maximumFractionDigits: digits });
}

function failedRate(endedPerSecond) {
  return Object.entries(endedPerSecond || {})
    .filter(([status]) => status !== "SUCCEEDED")
    .reduce((sum, [, rate]) => sum + rate, 0);
}

function failedTotal(totals) {
  return ["FAILED", "TIMED_OUT", "ABORTED"].reduce((sum, s) => sum + (totals[s] || 0), 0);
}

function showMachine(label, machine) {
  const section = byId(label);
  if (section) section.hidden = false;
  if (!machine) return;
  text(`${label}-running`, number(machine.running, 0));
  text(`${label}-started-rate`, number(machine.started_per_s));
  text(`${label}-succeeded-rate`, number((machine.ended_per_s || {}).SUCCEEDED || 0));
  text(`${label}-failed-rate`, number(failedRate(machine.ended_per_s)));
  for (const p of ["p50", "p90", "p99"]) text(`${label}-${p}`, number(machine.latency_ms[p]));
  text(`${label}-succeeded-total`, number(machine.totals.SUCCEEDED || 0, 0));
  text(`${label}-failed-total`, number(failedTotal(machine.totals), 0));
  const truncated = byId(`${label}-truncated`);
  if (truncated) truncated.hidden = !machine.truncated;
}

function cell(row, value, className) {
  const td = document.createElement("td");
  td.textContent = value;
  if (className) td.className = className;
  row.appendChild(td);
}

function showStress(stress) {
  byId("stress-off").hidden = stress !== null;
  if (stress === null) return;
  text("stress-workers", number(stress.workers, 0));
  text("stress-threads", number(stress.threads, 0));
  text("stress-queued", number(stress.queued, 0));
  const body = byId("stress-tasks");
  body.replaceChildren();
  for (const [task, figures] of Object.entries(stress.tasks)) {
    const row = document.createElement("tr");
    const service = figures.service_ms || {};
    const intended = figures.intended_ms || {};
    cell(row, task);
    cell(row, number(figures.rate));
    cell(row, number(figures.executed, 0));
    cell(row, number(figures.failed, 0));
    cell(row, number(figures.throttles, 0));
    cell(row, `${number(service.p50, 2)} / ${number(service.p99, 2)}`);
    cell(row, `${number(intended.p50, 2)} / ${number(intended.p99, 2)}`);
    body.appendChild(row);
  }
}

function showFailures(machines) {
  const rows = [];
  for (const [label, machine] of Object.entries(machines)) {
    for (const failure of machine.recent_failures || []) rows.push([label, failure]);
  }
  rows.sort((a, b) => (a[1].stopped < b[1].stopped ? 1 : -1));
  const body = byId("failure-rows");
  body.replaceChildren();
  if (rows.length === 0) {
    const row = document.createElement("tr");
    const td = document.createElement("td");
    td.colSpan = 6;
    td.textContent = "none since the dashboard opened";
    row.appendChild(td);
    body.appendChild(row);
    return;
  }
  for (const [label, failure] of rows.slice(0, 20)) {
    const row = document.createElement("tr");
    cell(row, label);
    cell(row, failure.name);
    cell(row, failure.status);
    cell(row, failure.stopped.slice(11, 23));
    cell(row, failure.error || "");
    cell(row, failure.cause || "", "cause");
    body.appendChild(row);
  }
}

function showErrors(errors) {
  const list = byId("errors");
  list.replaceChildren();
  for (const [source, message] of Object.entries(errors || {})) {
    const item = document.createElement("li");
    item.textContent = `${source}: ${message}`;
    list.appendChild(item);
  }
  list.hidden = list.children.length === 0;
}

// A line chart of several series over the kept history: [{name, value(snapshot)}].
function chart(id, series) {
  const svg = byId(id);
  if (!svg) return;
  const width = 480, height = 200, left = 44, right = 8, top = 22, bottom = 20;
  const points = history.filter((s) => s.interval_s);
  svg.replaceChildren();
  const values = series.map((s) => points.map((p) => s.value(p)));
  const finite = values.flat().filter((v) => Number.isFinite(v));
  const highest = Math.max(1, ...finite);
  const x = (i) => left + (points.length <= 1 ? 0 : (i * (width - left - right)) / (points.length - 1));
  const y = (v) => top + (height - top - bottom) * (1 - v / highest);
  const add = (name, attributes, content) => {
    const element = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
    if (content !== undefined) element.textContent = content;
    svg.appendChild(element);
    return element;
  };
  add("line", { x1: left, y1: y(0), x2: width - right, y2: y(0), class: "axis" });
  add("line", { x1: left, y1: top, x2: left, y2: y(0), class: "axis" });
  add("text", { x: 4, y: top + 4 }, number(highest));
  add("text", { x: 4, y: y(0) }, "0");
  if (points.length > 1) {
    const seconds = (points[points.length - 1].ts_ms - points[0].ts_ms) / 1000;
    add("text", { x: left, y: height - 4 }, `last ${number(seconds, 0)} s`);
  }
  series.forEach((s, n) => {
    const coordinates = values[n]
      .map((v, i) => (Number.isFinite(v) ? `${x(i).toFixed(1)},${y(v).toFixed(1)}` : null))
      .filter((c) => c !== null);
    if (coordinates.length > 0) add("polyline", { points: coordinates.join(" "), class: `s${n}` });
    add("rect", { x: left + 8 + n * 110, y: 6, width: 10, height: 10, class: `s${n}` });
    add("text", { x: left + 22 + n * 110, y: 15 }, s.name);
  });
}

function machine(snapshot, label) {
  return (snapshot.state_machines || {})[label];
}

function drawCharts() {
  const pipeline = (s) => machine(s, "pipeline") || { ended_per_s: {}, latency_ms: {} };
  chart("chart-throughput", [
    { name: "succeeded", value: (s) => pipeline(s).ended_per_s.SUCCEEDED || 0 },
    { name: "failed", value: (s) => failedRate(pipeline(s).ended_per_s) },
    { name: "started", value: (s) => pipeline(s).started_per_s },
  ]);
  chart("chart-latency", [
    { name: "p50", value: (s) => pipeline(s).latency_ms.p50 },
    { name: "p90", value: (s) => pipeline(s).latency_ms.p90 },
    { name: "p99", value: (s) => pipeline(s).latency_ms.p99 },
  ]);
  const queue = (s, label, key) => ((s.queues || {})[label] || {})[key];
  chart("chart-queues", [
    { name: "waiting", value: (s) => queue(s, "requests", "visible") },
    { name: "in flight", value: (s) => queue(s, "requests", "in_flight") },
    { name: "dead letters", value: (s) => queue(s, "dead_letters", "visible") },
  ]);
  const tasks = (s) => Object.values((s.stress || {}).tasks || {});
  chart("chart-stress-rate", [
    { name: "ops/s", value: (s) => tasks(s).reduce((sum, t) => sum + t.rate, 0) },
  ]);
  chart("chart-stress-latency", [
    {
      name: "intended p99",
      value: (s) => Math.max(-Infinity, ...tasks(s).map((t) => (t.intended_ms || {}).p99 ?? -Infinity)),
    },
  ]);
}

function show(snapshot) {
  const about = snapshot.about || {};
  text("about", `${about.target || "?"} · stack ${about.stack || "?"} · ${about.region || "?"}`);
  text("updated", new Date(snapshot.ts_ms).toLocaleTimeString());
  for (const label of Object.keys(snapshot.state_machines || {})) {
    showMachine(label, machine(snapshot, label));
  }
  showStress(snapshot.stress);
  showFailures(snapshot.state_machines || {});
  showErrors(snapshot.errors);
  drawCharts();
}

function remember(snapshot) {
  history.push(snapshot);
  if (history.length > KEPT) history.shift();
}

function connection(state) {
  const element = byId("connection");
  element.textContent = state;
  element.className = `state ${state === "live" ? "live" : "lost"}`;
}

async function start() {
  try {
    const response = await fetch("/api/history");
    for (const snapshot of await response.json()) remember(snapshot);
    if (history.length > 0) show(history[history.length - 1]);
  } catch (error) {
    connection("lost");
  }
  const events = new EventSource("/api/events");
  events.addEventListener("open", () => connection("live"));
  events.addEventListener("error", () => connection("reconnecting"));
  events.addEventListener("snapshot", (event) => {
    const snapshot = JSON.parse(event.data);
    const last = history[history.length - 1];
    if (last && snapshot.sequence <= last.sequence) return;
    remember(snapshot);
    show(snapshot);
  });
}

start();
