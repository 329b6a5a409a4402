// neronet dashboard: polls /api/state every 2 s and redraws what changed. No library:
// the charts are SVG drawn here, so the page works offline.
"use strict";

const POLL_MS = 2000;
const COLORS = ["#0969da", "#cf222e", "#1a7f37", "#8250df", "#bf8700", "#1b7c83", "#e16f24",
  "#6e7781", "#a475f9", "#4ac26b"];
const SVG_NS = "http://www.w3.org/2000/svg";
const ui = {
  source: Number(new URLSearchParams(location.search).get("source") || 0),
  sources: [], state: null, text: "", sort: { key: "id", dir: 1 }, selected: null,
  paretoAxes: null,
};

// ------------------------------------------------------------------ helpers
function el(tag, attrs = {}, ...children) {
  const node = tag.startsWith("svg:") ? document.createElementNS(SVG_NS, tag.slice(4))
    : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined) continue;
    if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}
const $ = (id) => document.getElementById(id);
function fmt(value, format) {
  if (value === null || value === undefined) return "-";
  if (format === "flag") return value ? "YES" : "no";
  if (format === "count") {
    if (value >= 1e6) return (value / 1e6).toFixed(2) + "M";
    return value >= 1000 ? (value / 1e3).toFixed(1) + "k" : String(Math.round(value));
  }
  return typeof value === "number" ? value.toFixed(3) : String(value);
}
function duration(s) {
  if (s === null || s === undefined) return "-";
  s = Math.round(s);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  return (h ? h + ":" + String(m).padStart(2, "0") : String(m)) + ":" + String(sec).padStart(2, "0");
}
function fitnessText(f) {
  if (Array.isArray(f)) return "(" + f.map((v) => fmt(v)).join(", ") + ")";
  return fmt(f);
}

// ------------------------------------------------------------------- charts
function niceTicks(lo, hi, n = 5) {
  if (!(hi > lo)) { hi = lo + 1; }
  const raw = (hi - lo) / n, mag = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  const out = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) out.push(+t.toFixed(10));
  return out;
}

// series: [{name, color, points: [[x, y]], width, band: [[x, lo, hi]], dots, ids}]
function chart(title, series, opts = {}) {
  const W = 460, H = 250, L = 48, R = 12, T = 8, B = 34;
  const pts = series.flatMap((s) => [...s.points, ...(s.band || []).flatMap((b) => [[b[0], b[1]], [b[0], b[2]]])])
    .filter((p) => p[1] !== null && Number.isFinite(p[1]));
  const box = el("div", { class: "chart", "data-title": title }, el("h3", { text: title }));
  if (!pts.length) { box.append(el("p", { class: "muted", text: opts.empty || "no finished generation yet" })); return box; }
  let [x0, x1] = [Math.min(...pts.map((p) => p[0])), Math.max(...pts.map((p) => p[0]))];
  let [y0, y1] = [Math.min(...pts.map((p) => p[1])), Math.max(...pts.map((p) => p[1]))];
  if (opts.integerX) { x0 -= 0.5; x1 += 0.5; }
  if (x1 === x0) { x0 -= 1; x1 += 1; }
  const pad = (y1 - y0) * 0.08 || 0.05; y0 -= pad; y1 += pad;
  const sx = (x) => L + (x - x0) / (x1 - x0) * (W - L - R);
  const sy = (y) => H - B - (y - y0) / (y1 - y0) * (H - T - B);
  const svg = el("svg:svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img" });
  for (const t of niceTicks(y0, y1)) {
    svg.append(el("svg:line", { x1: L, x2: W - R, y1: sy(t), y2: sy(t), stroke: "#eaeef2" }));
    svg.append(el("svg:text", { x: L - 4, y: sy(t) + 4, "text-anchor": "end", text: String(t) }));
  }
  const xt = opts.integerX ? niceTicks(Math.ceil(x0), Math.floor(x1), Math.min(8, Math.floor(x1) - Math.ceil(x0) || 1))
    .filter((t) => Number.isInteger(t)) : niceTicks(x0, x1);
  for (const t of xt) svg.append(el("svg:text", { x: sx(t), y: H - B + 14, "text-anchor": "middle", text: String(t) }));
  svg.append(el("svg:text", { x: (L + W - R) / 2, y: H - 4, "text-anchor": "middle", text: opts.xlabel || "generation" }));
  svg.append(el("svg:line", { x1: L, x2: L, y1: T, y2: H - B, stroke: "#8c959f" }));
  svg.append(el("svg:line", { x1: L, x2: W - R, y1: H - B, y2: H - B, stroke: "#8c959f" }));
  for (const s of series) {
    if (s.band && s.band.length) {
      const top = s.band.map((b) => `${sx(b[0])},${sy(b[2])}`);
      const bottom = s.band.slice().reverse().map((b) => `${sx(b[0])},${sy(b[1])}`);
      svg.append(el("svg:polygon", { points: [...top, ...bottom].join(" "), fill: s.color, opacity: 0.15 }));
    }
    const line = s.points.filter((p) => p[1] !== null);
    if (!s.dots && line.length) {
      svg.append(el("svg:polyline", { class: "series", "data-name": s.name, fill: "none", stroke: s.color,
        "stroke-width": s.width || 2, "stroke-dasharray": s.dash || null,
        points: line.map((p) => `${sx(p[0])},${sy(p[1])}`).join(" ") }));
    }
    line.forEach((p, i) => {
      const dot = el("svg:circle", { cx: sx(p[0]), cy: sy(p[1]), r: s.dots ? (s.big && s.big[i] ? 5 : 3.5) : 2.5,
        fill: s.color, stroke: s.big && s.big[i] ? "#1f2328" : "none", opacity: s.dots ? 0.8 : 1 });
      if (s.ids) {
        dot.style.cursor = "pointer";
        dot.addEventListener("click", () => select(s.ids[i][0], s.ids[i][1]));
        dot.append(el("svg:title", { text: s.ids[i][2] }));
      }
      svg.append(dot);
    });
  }
  box.append(svg);
  const legend = el("div", { class: "legend" });
  for (const s of series) if (s.name) legend.append(el("span", { style: `--c:${s.color}`, text: s.name }));
  box.append(legend);
  return box;
}

// ------------------------------------------------------------------ network
async function getJSON(url) {
  const response = await fetch(url, { cache: "no-cache" });
  const text = await response.text();
  if (!response.ok) throw new Error(JSON.parse(text).error || response.statusText);
  return text;
}

async function poll() {
  try {
    if (!ui.sources.length) {
      ui.sources = JSON.parse(await getJSON("/api/sources"));
      renderTabs();
    }
    const text = await getJSON(`/api/state?source=${ui.source}`);
    if (text !== ui.text) {
      ui.text = text;
      ui.state = JSON.parse(text);
      render();
    }
    $("updated").textContent = "updated " + new Date().toLocaleTimeString();
  } catch (err) {
    $("updated").textContent = "cannot reach the dashboard: " + err.message;
  }
  setTimeout(poll, POLL_MS);
}

function renderTabs() {
  const nav = $("sources");
  nav.replaceChildren(...ui.sources.map((s) => el("button", {
    class: "source-tab" + (s.index === ui.source ? " active" : ""), "data-index": s.index, text: s.name,
    onclick: () => {
      ui.source = s.index; ui.text = ""; ui.selected = null; ui.paretoAxes = null;
      history.replaceState(null, "", `?source=${s.index}`);
      $("detail").hidden = true;
      renderTabs(); poll();
    },
  })));
}

// ------------------------------------------------------------------- render
function render() {
  const st = ui.state;
  document.body.dataset.kind = st.kind;
  const problem = $("problem");
  const messages = [st.error, st.kind === "waiting" ? `${st.name}: waiting for a search to start here` : null,
    ...st.runs.map((r) => r.stale && `${r.label}: ${r.stale}`)].filter(Boolean);
  problem.hidden = !messages.length;
  problem.textContent = messages.join(" · ");
  renderRuns(st);
  renderCharts(st);
  renderExtra(st);
  renderFilters(st);
  renderTable(st);
  renderTables(st);
  if (ui.selected) refreshDetail();
}

function renderRuns(st) {
  $("runs").replaceChildren(...st.runs.map((r) => {
    const p = r.progress;
    const share = p.planned ? Math.min(1, p.individuals / p.planned) : 0;
    const gens = p.generations ? ` of 0-${p.generations - 1}` : "";
    const candidate = p.candidate ? `, candidate ${p.candidate}` : "";
    return el("div", { class: "run-card", "data-state": p.state },
      el("h3", {}, el("span", { text: r.label + " " }), el("span", { class: "state " + p.state, text: p.state })),
      el("div", { text: `generation ${p.generation}${gens}${candidate}` }),
      el("div", { class: "bar" }, el("div", { style: `width:${(100 * share).toFixed(1)}%` })),
      el("div", { class: "muted", text: `${p.individuals}${p.planned ? " of " + p.planned : ""} individuals · ` +
        `elapsed ${duration(p.elapsed_s)}` + (p.eta_s !== null ? ` · ETA ${duration(p.eta_s)}` : "") }),
      el("div", { class: "muted", text: `${r.strategy} · ${r.objective}${p.phase ? ": " + p.phase : ""} · seed ${r.seed}` }),
      ...r.notes.map((n) => el("div", { class: "warning", text: n })));
  }));
}

function renderCharts(st) {
  const box = $("charts");
  const runs = st.runs;
  const vector = runs.some((r) => r.hypervolume);
  const fitness = [], accuracy = [];
  const many = runs.length > 1;
  runs.forEach((r, i) => {
    const color = COLORS[i % COLORS.length];
    const g = r.generations;
    fitness.push({ name: many ? r.label : vector ? "front" : "best", color, width: many ? 1.2 : 2,
      points: g.map((x) => [x.generation, x.best]) });
    if (!many) fitness.push({ name: vector ? "members' mean" : "mean", color: "#8c959f", dash: "4 3", points: g.map((x) => [x.generation, x.mean]) });
    accuracy.push({ name: (many ? r.label + " " : "") + "clean", color, width: many ? 1.2 : 2,
      points: g.map((x) => [x.generation, x.clean]) });
    accuracy.push({ name: (many ? r.label + " " : "") + "FGSM", color: many ? color : COLORS[1], dash: "5 3", width: many ? 1.2 : 2,
      points: g.map((x) => [x.generation, x.adversarial]) });
  });
  for (const [i, c] of st.curves.entries()) {
    const color = many && st.curves.length > 1 ? COLORS[(i + 5) % COLORS.length] : "#1f2328";
    const label = (c.group ? c.group + " " : "") + `mean ± std of ${c.runs} runs`;
    const band = (k) => c[k].generations.map((g, j) => [g, c[k].mean[j] - c[k].std[j], c[k].mean[j] + c[k].std[j]]);
    const mean = (k) => c[k].generations.map((g, j) => [g, c[k].mean[j]]);
    fitness.push({ name: label, color, width: 3, points: mean("fitness"), band: band("fitness") });
    accuracy.push({ name: "clean " + label, color, width: 3, points: mean("clean"), band: band("clean") });
  }
  const title = vector ? "hypervolume of each generation's front" : "best fitness per generation";
  box.replaceChildren(chart(title, fitness, { integerX: true }),
    chart("accuracy of each generation's best", accuracy, { integerX: true }));
}

function renderExtra(st) {
  const box = $("extra");
  const parts = [];
  for (const [i, r] of st.runs.entries()) {
    if (r.pareto) parts.push(paretoChart(r, i));
    if (r.ras) parts.push(rasTable(r));
  }
  box.replaceChildren(...parts);
}

function paretoChart(run, index) {
  const names = run.pareto.names;
  const axes = ui.paretoAxes || [names[0], names[1] || names[0]];
  const ok = run.individuals.filter((r) => r.status === "ok");
  const front = new Set(run.pareto.front);
  const series = [{ name: `${run.label}: evaluated (front: outlined)`, color: COLORS[index % COLORS.length], dots: true,
    points: ok.map((r) => [r.metrics[axes[0]], r.metrics[axes[1]]]),
    big: ok.map((r) => front.has(r.id)), ids: ok.map((r) => [index, r.id, `${r.key} (id ${r.id})`]) }];
  const box = chart(`Pareto front: ${run.label}`, series, { xlabel: axes[0], empty: "no individual measured yet" });
  const pick = (k) => el("select", { onchange: (e) => { axes[k] = e.target.value; ui.paretoAxes = axes; renderExtra(ui.state); } },
    ...names.map((n) => { const o = el("option", { value: n, text: n }); o.selected = n === axes[k]; return o; }));
  box.insertBefore(el("div", { class: "muted" }, "x ", pick(0), " y ", pick(1)), box.children[1]);
  return box;
}

function rasTable(run) {
  const ras = run.ras;
  const table = el("table", {}, el("thead", {}, el("tr", {}, el("th", { class: "text", text: "representative" }),
    ...ras.features.map((f) => el("th", { text: f.replaceAll("_", " ") })))),
  el("tbody", {}, ...ras.spectra.map((s) => el("tr", { onclick: () => select(ui.state.runs.indexOf(run), s.id) },
    el("td", { class: "text", text: `${s.key} (id ${s.id})` }), ...s.counts.map((c) => el("td", { text: String(c) }))))));
  const gens = ras.generations.map((g) => `g${g.generation}: ${g.representatives} clusters, acc ${fmt(g.accuracy)}`);
  return el("div", { class: "chart" }, el("h3", { text: `RAS clusters: ${run.label} (final representatives' spectra)` }),
    el("div", { class: "table-wrap" }, table), el("div", { class: "muted", text: gens.join(" · ") }));
}

// -------------------------------------------------------------- the table
function allRows(st) {
  return st.runs.flatMap((r, i) => r.individuals.map((x) => ({ ...x, run: i, runLabel: r.label, objective: r.objective })));
}

function options(select, values, label) {
  const current = select.value;
  select.replaceChildren(el("option", { value: "", text: label }),
    ...values.map((v) => el("option", { value: String(v[0]), text: v[1] })));
  select.value = [...select.options].some((o) => o.value === current) ? current : "";
}

function renderFilters(st) {
  const rows = allRows(st);
  options($("f-run"), st.runs.map((r, i) => [i, r.label]), "all runs");
  options($("f-status"), [...new Set(rows.map((r) => r.status))].sort().map((s) => [s, s]), "any");
  options($("f-objective"), [...new Set(st.runs.map((r) => r.objective))].map((s) => [s, s]), "any");
  options($("f-mutation"), [...new Set(rows.flatMap((r) => r.mutations))].sort().map((s) => [s, s]), "any");
  $("f-run").parentElement.hidden = st.runs.length < 2;
}

function columns(st) {
  const metrics = [];
  for (const r of st.runs) for (const m of r.metrics) if (m.table && !metrics.some((x) => x.name === m.name)) metrics.push(m);
  const cols = [];
  if (st.runs.length > 1) cols.push({ key: "runLabel", header: "run", text: true, value: (r) => r.runLabel });
  cols.push({ key: "key", header: "key", text: true, value: (r) => r.key },
    { key: "id", header: "id", value: (r) => r.id },
    { key: "status", header: "status", text: true, value: (r) => r.status },
    { key: "fitness", header: "fitness", value: (r) => r.fitness, show: fitnessText });
  for (const m of metrics) {
    cols.push({ key: "m:" + m.name, header: m.header, title: m.label, value: (r) => r.metrics[m.name],
      show: (v) => fmt(v, m.format), flag: m.format === "flag" });
  }
  cols.push({ key: "train_s", header: "train s", value: (r) => r.train_s, show: (v) => (v === null ? "-" : v.toFixed(1)) },
    { key: "mutations", header: "mutations", text: true, value: (r) => r.mutations.join(", ") || (r.cache_of !== null ? `cache of ${r.cache_of}` : "") },
    { key: "reason", header: "reason (ill-fitted, masking)", text: true, value: (r) => r.reason || "", cls: "reason" });
  return cols;
}

function compare(a, b) {
  const na = a === null || a === undefined, nb = b === null || b === undefined;
  if (na || nb) return na === nb ? 0 : na ? 1 : -1;
  if (Array.isArray(a)) { a = a[0]; b = b[0]; }
  return typeof a === "number" ? a - b : String(a).localeCompare(String(b));
}

function renderTable(st) {
  const cols = columns(st);
  const f = { run: $("f-run").value, status: $("f-status").value, objective: $("f-objective").value,
    mutation: $("f-mutation").value, masking: $("f-masking").value };
  let rows = allRows(st).filter((r) => (f.run === "" || String(r.run) === f.run)
    && (f.status === "" || r.status === f.status) && (f.objective === "" || r.objective === f.objective)
    && (f.mutation === "" || r.mutations.includes(f.mutation))
    && (f.masking === "" || (f.masking === "yes") === (r.masking === true)));
  const col = cols.find((c) => c.key === ui.sort.key) || cols.find((c) => c.key === "id");
  rows = rows.map((r, i) => [r, i]).sort((a, b) => (compare(col.value(a[0]), col.value(b[0])) * ui.sort.dir)
    || (a[1] - b[1])).map((x) => x[0]);
  $("shown").textContent = `${rows.length} shown`;
  const head = $("individuals").tHead;
  head.replaceChildren(el("tr", {}, ...cols.map((c) => el("th", {
    class: c.text ? "text" : null, title: c.title || null, "data-key": c.key,
    text: c.header + (c.key === ui.sort.key ? (ui.sort.dir > 0 ? " ▲" : " ▼") : ""),
    onclick: () => { ui.sort = { key: c.key, dir: ui.sort.key === c.key ? -ui.sort.dir : 1 }; renderTable(ui.state); },
  }))));
  const body = $("individuals").tBodies[0];
  body.replaceChildren(...rows.map((r) => {
    const selected = ui.selected && ui.selected.run === r.run && ui.selected.id === r.id;
    return el("tr", { class: r.status + (selected ? " selected" : ""), "data-run": r.run, "data-id": r.id,
      onclick: () => select(r.run, r.id) },
    ...cols.map((c) => {
      const v = c.value(r);
      return el("td", { class: [c.text ? "text" : "", c.cls || "", c.flag && v ? "flag-yes" : ""].join(" ").trim() || null,
        text: c.show ? c.show(v) : v === null || v === undefined ? "-" : String(v) });
    }));
  }));
}

for (const id of ["f-run", "f-status", "f-objective", "f-mutation", "f-masking"]) {
  document.addEventListener("DOMContentLoaded", () => $(id).addEventListener("change", () => renderTable(ui.state)));
}

function renderTables(st) {
  const heading = st.kind === "survey" ? "Survey" : "After the search";
  $("tables").replaceChildren(...(st.tables.length ? [el("h2", { text: heading })] : []),
    ...st.tables.map((t) => el("div", {}, el("h3", { text: t.title }),
      el("table", {}, el("thead", {}, el("tr", {}, ...t.headers.map((h) => el("th", { class: "text", text: h })))),
        el("tbody", {}, ...t.rows.map((row) => el("tr", {}, ...row.map((c) => el("td", { class: "text", text: c })))))))));
}

// ----------------------------------------------------------------- detail
function select(run, id) {
  ui.selected = { run, id, shown: null };
  renderTable(ui.state);
  refreshDetail();
}

async function refreshDetail() {
  const sel = ui.selected;
  const run = ui.state.runs[sel.run];
  const row = run && run.individuals.find((r) => r.id === sel.id);
  if (!row || sel.shown === row.status + row.fitness) return;
  try {
    const d = JSON.parse(await getJSON(`/api/individual?source=${ui.source}&run=${sel.run}&id=${sel.id}`));
    if (ui.selected !== sel) return;
    sel.shown = row.status + row.fitness;
    renderDetail(run, d);
  } catch (err) {
    $("detail").hidden = false;
    $("detail").textContent = "cannot load the individual: " + err.message;
  }
}

function renderDetail(run, d) {
  const box = $("detail");
  const facts = [["run", run.label], ["key", `${d.key} (id ${d.id}, generation ${d.generation})`],
    ["status", d.status + (d.reason ? ": " + d.reason : "")], ["fitness", fitnessText(d.fitness)],
    ...run.metrics.map((m) => [m.label, fmt(d.metrics[m.name], m.format)]),
    ["parent", d.parent === null ? "-" : String(d.parent)], ["mutations", d.mutations.join(", ") || "-"],
    ["learning unit", d.learning || "-"], ["training", `${d.epochs ?? 0} epochs, ${d.train_s === null ? "-" : d.train_s.toFixed(1) + " s"}` +
      (d.stop_reason ? `, stopped by ${d.stop_reason}` : "") + (d.warm_start_from !== null ? `, continued from id ${d.warm_start_from}` : "")]];
  const dl = el("dl", {}, ...facts.flatMap(([k, v]) => [el("dt", { text: k }), el("dd", { text: v })]));
  const hist = d.history.length ? chart("training: control accuracy per epoch", [
    { name: "control accuracy", color: COLORS[0], points: d.history.map((h) => [h.epoch, h.control_accuracy ?? null]) }],
  { integerX: true, xlabel: "epoch" }) : null;
  const diagram = el("div", { class: "diagram" });
  if (d.svg) diagram.innerHTML = d.svg; // drawn by matplotlib on the server, not user text
  else diagram.append(el("p", { class: "muted", text: "no network: the genotype did not decode" }));
  box.replaceChildren(el("h2", { text: `Individual ${d.key} (id ${d.id}) of ${run.label}` }),
    el("div", { class: "cols" }, el("div", { class: "facts" }, dl, hist), diagram));
  box.hidden = false;
}

document.addEventListener("DOMContentLoaded", poll);
