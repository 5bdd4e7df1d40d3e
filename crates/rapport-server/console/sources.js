// Sources: the built-in connectors and the tables each reads, the datasets with their store batches (state, rows read, stored and rejected, and each batch's
// rejected rows with file, line, field and message), the batches uploaded through the batch API, and the
// dataflows with their runs.

import * as api from "/console/api.js";
import { h, page, fmt, table, errorBox } from "/console/ui.js";

const PAGE = 50;

export async function sourcesPage() {
  const main = page("Sources", h("p", { class: "help" }, "Loading…"));
  const [connectors, datasets, apiBatches, flows] = await Promise.all([
    api.get("/connectors?limit=1000").then((r) => api.items(r, "results")),
    api.get("/datasets?limit=1000").then((r) => api.items(r, "results")),
    api.get("/batches?limit=1000").then((r) => api.items(r, "results")),
    api.get("/flows?limit=1000").then((r) => api.items(r, "results")),
  ]);

  // Datasets: a table, and one dataset's batches on demand.
  const batchesBox = h("div", { "aria-live": "polite" });
  const showDataset = async (d, button) => {
    batchesBox.replaceChildren(h("p", { class: "help" }, "Loading batches…"));
    try {
      const batches = api.items(await api.get(`/datasets/${encodeURIComponent(d.name)}/batches?limit=1000`), "results");
      batchesBox.replaceChildren(datasetBatches(d, batches));
      const heading = batchesBox.querySelector("h3");
      if (heading) heading.focus();
    } catch (err) {
      batchesBox.replaceChildren(errorBox(err));
      if (button) button.focus();
    }
  };
  const datasetTable = table([
    { label: "Dataset", cell: (d) => h("button", { type: "button", class: "link", onclick: (ev) => showDataset(d, ev.currentTarget), "aria-label": `Batches of ${d.name}` }, d.name) },
    { label: "Class", cell: (d) => d.entity },
    { label: "Schema", cell: (d) => d.schema },
  ], datasets, { caption: "Datasets (choose one to see its batches)", empty: "No dataset yet: ingest a source first." });

  // Connectors: each system's export tables, the class and dataset each becomes, and what its mapping reads.
  const stored = new Set(datasets.map((d) => d.name));
  const connectorTable = table([
    { label: "System", cell: (t) => t.sourceType },
    { label: "Table", cell: (t) => t.table },
    { label: "Class", cell: (t) => t.entity },
    { label: "Dataset", cell: (t) => (stored.has(t.dataset)
      ? h("button", { type: "button", class: "link", onclick: (ev) => showDataset(datasets.find((d) => d.name === t.dataset), ev.currentTarget), "aria-label": `Batches of ${t.dataset}, from the ${t.sourceType} ${t.table} table` }, t.dataset)
      : h("span", {}, t.dataset, h("span", { class: "help" }, " (nothing loaded)"))) },
    { label: "Files", cell: (t) => t.files.map((f) => `${f}.csv`).join(", ") },
    { label: "Id column", cell: (t) => h("code", {}, t.idColumn) },
    { label: "Mapped columns", num: true, cell: (t) => fmt(t.columns.length) },
  ], connectors, { caption: "Built-in connectors: the tables that rapport ingest SYSTEM FOLDER and the batch API read" });

  main.replaceChildren(main.firstChild,
    h("section", { "aria-labelledby": "connectors-h" }, h("h2", { id: "connectors-h" }, "Connectors"), connectorTable),
    h("section", { "aria-labelledby": "datasets-h" }, h("h2", { id: "datasets-h" }, "Datasets"), datasetTable, batchesBox),
    h("section", { "aria-labelledby": "api-batches-h" }, h("h2", { id: "api-batches-h" }, "Uploaded batches"),
      h("p", { class: "help" }, "Batches created through the batch API by this server process."),
      apiBatchList(apiBatches)),
    h("section", { "aria-labelledby": "flows-h" }, h("h2", { id: "flows-h" }, "Dataflows"), await flowList(flows)));
}

function datasetBatches(d, batches) {
  const errors = h("div", { "aria-live": "polite" });
  const rows = table([
    { label: "Batch", num: true, cell: (b) => String(b.id) },
    { label: "State", cell: (b) => h("span", { class: `badge ${b.state}` }, b.state) },
    { label: "Source", cell: (b) => b.source },
    { label: "Files", cell: (b) => (b.files || []).join(", ") },
    { label: "Read", num: true, cell: (b) => fmt(b.rows_read) },
    { label: "Stored", num: true, cell: (b) => fmt(b.rows_ingested) },
    { label: "Rejected", num: true, cell: (b) => fmt(b.rows_rejected) },
    { label: "Created (UTC)", cell: (b) => b.created_at },
    { label: "Rejected rows", cell: (b) => (b.rows_rejected > 0
      ? h("button", { type: "button", class: "secondary", onclick: () => storeErrors(d, b, errors, 0) }, `Show ${fmt(b.rows_rejected)}`)
      : "") },
  ], batches, { caption: `Batches of ${d.name}`, empty: "No batch yet." });
  return h("div", { class: "panel", "data-testid": "dataset-batches" },
    h("h3", { tabindex: "-1" }, `Batches of ${d.name}`), rows, errors);
}

async function storeErrors(d, b, box, start) {
  try {
    const q = new URLSearchParams({ limit: String(PAGE), start: String(start) });
    const r = await api.get(`/datasets/${encodeURIComponent(d.name)}/batches/${b.id}/failed?${q}`);
    box.replaceChildren(errorRows(`Rejected rows of batch ${b.id}`, r, start, (next) => storeErrors(d, b, box, next)));
    box.querySelector("h4")?.focus();
  } catch (err) {
    box.replaceChildren(errorBox(err));
  }
}

/** A page of rejected rows with previous/next buttons. */
function errorRows(title, answer, start, go) {
  const list = api.items(answer, "results");
  const next = answer._page && answer._page.next;
  return h("div", { "data-testid": "rejected-rows" },
    h("h4", { tabindex: "-1" }, title),
    table([
      { label: "File", cell: (e) => e.file },
      { label: "Line", num: true, cell: (e) => String(e.line) },
      { label: "Field", cell: (e) => e.path || "" },
      { label: "Code", cell: (e) => h("code", {}, e.code) },
      { label: "Message", cell: (e) => e.message },
    ], list, { caption: title, empty: "No rejected row." }),
    h("p", {},
      start > 0 ? h("button", { type: "button", class: "secondary", onclick: () => go(Math.max(0, start - PAGE)) }, "Previous rows") : null, " ",
      next !== null && next !== undefined ? h("button", { type: "button", class: "secondary", onclick: () => go(Number(next)) }, "Next rows") : null));
}

function apiBatchList(batches) {
  const box = h("div", { "aria-live": "polite" });
  const show = async (b, start) => {
    try {
      const [detail, failed] = await Promise.all([
        api.get(`/batches/${encodeURIComponent(b.id)}`),
        api.get(`/batches/${encodeURIComponent(b.id)}/failed?limit=${PAGE}&start=${start}`),
      ]);
      const m = detail.metrics || {};
      box.replaceChildren(h("div", { class: "panel" },
        h("p", {}, `Batch ${b.id}: ${detail.status}. Read ${fmt(m.rowsRead)}, stored ${fmt(m.rowsIngested)}, rejected ${fmt(m.rowsRejected)}.`),
        errorRows(`Rejected rows of batch ${b.id}`, failed, start, (next) => show(b, next))));
      box.querySelector("h4")?.focus();
    } catch (err) {
      box.replaceChildren(errorBox(err));
    }
  };
  return h("div", {},
    table([
      { label: "Batch", cell: (b) => h("button", { type: "button", class: "link", onclick: () => show(b, 0) }, b.id) },
      { label: "Dataset", cell: (b) => b.datasetId },
      { label: "Status", cell: (b) => h("span", { class: `badge ${b.status}` }, b.status) },
      { label: "Files", cell: (b) => (b.files || []).map((f) => `${f.name} (${fmt(f.bytes)} bytes)`).join(", ") },
    ], batches, { empty: "No batch uploaded through the API since the server started." }),
    box);
}

async function flowList(flows) {
  if (!flows.length) return h("p", { class: "help" }, "No dataflow yet.");
  const withRuns = await Promise.all(flows.map(async (f) => ({
    f, runs: api.items(await api.get(`/flows/${encodeURIComponent(f.name)}/runs?limit=1000`).catch(() => null), "results"),
  })));
  return h("div", {}, withRuns.map(({ f, runs }) => h("section", { class: "panel", "aria-label": `Dataflow ${f.name}` },
    h("h3", {}, f.name),
    h("p", { class: "help" }, "Source ", h("code", {}, JSON.stringify(f.source ?? null)),
      f.every ? ` · every ${typeof f.every === "string" ? f.every : JSON.stringify(f.every)}` : " · run on demand",
      ` · error threshold ${f.error_threshold_percent ?? "—"}`),
    table([
      { label: "Run", num: true, cell: (r) => String(r.id) },
      { label: "State", cell: (r) => h("span", { class: `badge ${r.state}` }, r.state) },
      { label: "Started (UTC)", cell: (r) => r.started_at },
      { label: "Seconds", num: true, cell: (r) => duration(r.started_at, r.ended_at) },
      { label: "Files", num: true, cell: (r) => fmt((r.files || []).length) },
      { label: "Read", num: true, cell: (r) => fmt(r.rows_read) },
      { label: "Stored", num: true, cell: (r) => fmt(r.rows_ingested) },
      { label: "Rejected", num: true, cell: (r) => fmt(r.rows_rejected) },
      { label: "Message", cell: (r) => r.message || "" },
    ], runs, { caption: `Runs of ${f.name}`, empty: "Not run yet." }))));
}

/** Seconds between two RFC 3339 times, or a dash. */
export function duration(start, end) {
  const a = Date.parse(start);
  const b = Date.parse(end);
  if (Number.isNaN(a) || Number.isNaN(b)) return "—";
  return ((b - a) / 1000).toFixed(3);
}
