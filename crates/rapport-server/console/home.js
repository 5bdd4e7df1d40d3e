// Home (counts, audience sizes, audience size over time and ingestion throughput).

import * as api from "/console/api.js";
import { h, page, fmt, table } from "/console/ui.js";
import { timePlot } from "/console/charts.js";

export async function homePage() {
  const main = page("Home", h("p", { class: "help" }, "Loading…"));
  const audiences = api.items(await api.get("/segment/definitions?limit=500"), "segments");
  const cards = h("div", { class: "cards" },
    card("Audiences", audiences.length),
    card("Audience members", audiences.reduce((s, a) => s + (a.size || 0), 0)));
  // Profiles of the classes that hold any (people, accounts and opportunities always).
  const summary = await api.get("/profiles/summary");
  for (const e of summary.entities) {
    if (e.profiles > 0 || ["person", "account", "opportunity"].includes(e.entity)) {
      cards.append(card(`${e.entity} profiles`, e.profiles));
    }
  }
  const max = Math.max(1, ...audiences.map((a) => a.size || 0));
  const bars = audiences.length
    ? h("ul", { class: "bars", "aria-label": "Audience sizes" }, audiences.map((a) =>
        h("li", {},
          h("a", { href: `#/audiences/${encodeURIComponent(a.name)}` }, a.name),
          h("span", { class: "bar-track", "aria-hidden": "true" }, bar((100 * (a.size || 0)) / max)),
          h("span", { class: "num" }, fmt(a.size)))))
    : h("p", { class: "help" }, "No audience yet. ", h("a", { href: "#/audiences/new" }, "Build one"), ".");
  const [sizes, throughput] = await Promise.all([sizesPlot(audiences), throughputPlots()]);
  main.replaceChildren(main.firstChild, h("section", { "aria-labelledby": "counts" }, h("h2", { id: "counts" }, "Counts"), cards),
    h("section", { "aria-labelledby": "sizes" }, h("h2", { id: "sizes" }, "Audience sizes"), bars),
    h("section", { "aria-labelledby": "over-time" }, h("h2", { id: "over-time" }, "Audience size over time"), sizes),
    h("section", { "aria-labelledby": "ingestion" }, h("h2", { id: "ingestion" }, "Ingestion throughput"), ...throughput));
}

/** The size of (up to 6 of) the audiences after each change of their membership, as a staircase. */
async function sizesPlot(audiences) {
  const shown = audiences.slice(0, 6);
  const series = await Promise.all(shown.map(async (a) => {
    const r = await api.get(`/segment/definitions/${encodeURIComponent(a.name)}/sizes`);
    return { name: a.name, points: (r.points || []).map((p) => ({ t: Date.parse(p.at), y: p.size, at: p.at, entered: p.entered, exited: p.exited })) };
  }));
  const rows = series.flatMap((x) => x.points.map((p) => ({ audience: x.name, ...p })));
  const latest = series.map((x) => `${x.name}: ${fmt(x.points.length ? x.points[x.points.length - 1].y : 0)} after ${x.points.length} changes`).join("; ");
  return timePlot({
    id: "plot-sizes", title: "Members after each change", yLabel: "Members", series, step: true,
    summary: latest || "no audience",
    columns: [
      { label: "Audience", cell: (r) => r.audience },
      { label: "When (UTC)", cell: (r) => r.at },
      { label: "Entered", num: true, cell: (r) => fmt(r.entered) },
      { label: "Exited", num: true, cell: (r) => fmt(r.exited) },
      { label: "Members", num: true, cell: (r) => fmt(r.y) },
    ],
    rows,
  });
}

/** Rows per batch over time, and rows read per second of each batch, from the store's batches. */
async function throughputPlots() {
  const batches = api.items(await api.get("/ingestion/throughput?limit=1000"), "results");
  const columns = [
    { label: "Batch", num: true, cell: (b) => String(b.id) },
    { label: "Dataset", cell: (b) => b.dataset },
    { label: "Started (UTC)", cell: (b) => b.createdAt },
    { label: "State", cell: (b) => b.state },
    { label: "Rows read", num: true, cell: (b) => fmt(b.rowsRead) },
    { label: "Rows stored", num: true, cell: (b) => fmt(b.rowsIngested) },
    { label: "Seconds", num: true, cell: (b) => (b.seconds === null || b.seconds === undefined ? "—" : b.seconds.toFixed(3)) },
    { label: "Rows/s", num: true, cell: (b) => (b.rowsPerSecond ? fmt(Math.round(b.rowsPerSecond)) : "—") },
  ];
  const totalRows = batches.reduce((s, b) => s + b.rowsRead, 0);
  const totalSecs = batches.reduce((s, b) => s + (b.seconds || 0), 0);
  const perBatch = timePlot({
    id: "plot-rows", title: "Rows stored per batch", yLabel: "Rows", bars: true,
    series: [{ name: "rows stored", points: batches.map((b) => ({ t: Date.parse(b.createdAt), y: b.rowsIngested })) }],
    summary: `${batches.length} batches, ${fmt(totalRows)} rows read`,
    columns, rows: batches,
  });
  const timed = batches.filter((b) => b.rowsPerSecond);
  const rate = timePlot({
    id: "plot-rate", title: "Rows read per second, by batch", yLabel: "Rows per second",
    series: [{ name: "rows per second", points: timed.map((b) => ({ t: Date.parse(b.createdAt), y: Math.round(b.rowsPerSecond) })) }],
    summary: totalSecs > 0 ? `overall ${fmt(Math.round(totalRows / totalSecs))} rows per second` : "no timed batch",
    columns, rows: timed,
  });
  return [perBatch, rate];
}

// Widths go through the CSSOM: the console's content security policy refuses inline style attributes.
function bar(percent) {
  const el = h("span", { class: "bar" });
  el.style.display = "block";
  el.style.width = `${percent}%`;
  return el;
}

function card(label, value) {
  return h("div", { class: "card" }, h("div", { class: "help" }, label), h("div", { class: "big" }, fmt(value)));
}
