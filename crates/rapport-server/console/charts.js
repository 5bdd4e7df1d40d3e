// Plots drawn as inline SVG with DOM APIs (no library, no inline style: the content security policy refuses
// style attributes, and SVG presentation attributes are not style). Each plot comes with a text alternative: a
// summary in its accessible name and the data as a table in a <details>.

import { h, svg as s, fmt, table } from "/console/ui.js";
const W = 640;
const H = 260;
const PAD = { left: 64, right: 16, top: 16, bottom: 48 };

/** About five round ticks from 0 to at least `max`. */
export function ticks(max) {
  if (!(max > 0)) return [0, 1];
  const raw = max / 4;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((c) => c >= raw);
  const out = [];
  for (let v = 0; v < max + step; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

const shortTime = (t) => {
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? String(t) : d.toISOString().replace("T", " ").slice(5, 19);
};

/**
 * A time plot: `series` is [{name, points: [{t (ms), y}]}]; `step` draws a staircase (a size holds until the
 * next change), otherwise points are joined by lines and marked. `bars` draws one bar per point instead.
 */
export function timePlot({ id, title, yLabel, xLabel = "Time (UTC)", series, step = false, bars = false, columns, rows, summary }) {
  const all = series.flatMap((x) => x.points);
  const figure = h("figure", { class: "plot", "aria-labelledby": `${id}-cap` });
  const caption = h("figcaption", { id: `${id}-cap` }, title);
  if (!all.length) {
    figure.append(caption, h("p", { class: "help" }, "No data yet."));
    return figure;
  }
  let t0 = Math.min(...all.map((p) => p.t));
  let t1 = Math.max(...all.map((p) => p.t));
  if (t1 === t0) { t0 -= 1000; t1 += 1000; }
  if (bars) {
    // Room for the first and last bars inside the axes.
    const pad = (t1 - t0) * 0.05;
    t0 -= pad;
    t1 += pad;
  }
  const yt = ticks(Math.max(...all.map((p) => p.y)));
  const ymax = yt[yt.length - 1] || 1;
  const iw = W - PAD.left - PAD.right;
  const ih = H - PAD.top - PAD.bottom;
  const x = (t) => PAD.left + ((t - t0) / (t1 - t0)) * iw;
  const y = (v) => PAD.top + ih - (v / ymax) * ih;

  const svg = s("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": `${title}. ${summary}`, class: "chart", id, focusable: "false" });
  // Axes and grid.
  const grid = s("g", { class: "grid" });
  for (const v of yt) {
    grid.append(s("line", { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v) }),
      s("text", { x: PAD.left - 6, y: y(v) + 4, "text-anchor": "end", class: "tick" }, fmt(v)));
  }
  const xt = [t0, t0 + (t1 - t0) / 2, t1];
  xt.forEach((t, i) => {
    grid.append(s("text", { x: x(t), y: H - PAD.bottom + 16, "text-anchor": ["start", "middle", "end"][i], class: "tick" }, shortTime(t)));
  });
  svg.append(grid,
    s("line", { class: "axis", x1: PAD.left, x2: PAD.left, y1: PAD.top, y2: PAD.top + ih }),
    s("line", { class: "axis", x1: PAD.left, x2: W - PAD.right, y1: PAD.top + ih, y2: PAD.top + ih }),
    s("text", { class: "label", x: PAD.left + iw / 2, y: H - 8, "text-anchor": "middle" }, xLabel),
    s("text", { class: "label", x: 14, y: PAD.top + ih / 2, "text-anchor": "middle", transform: `rotate(-90 14 ${PAD.top + ih / 2})` }, yLabel));

  series.forEach((ser, i) => {
    const cls = `series s${i % 6}`;
    const pts = [...ser.points].sort((a, b) => a.t - b.t);
    const g = s("g", { class: cls });
    if (bars) {
      const bw = Math.max(2, Math.min(24, iw / Math.max(1, all.length) - 2));
      for (const p of pts) {
        g.append(s("rect", { x: x(p.t) - bw / 2, y: y(p.y), width: bw, height: Math.max(0, y(0) - y(p.y)) },
          s("title", {}, `${ser.name}: ${fmt(p.y)} at ${shortTime(p.t)}`)));
      }
    } else {
      let d = "";
      pts.forEach((p, j) => {
        if (j === 0) d += `M${x(p.t)},${y(p.y)}`;
        else if (step) d += `H${x(p.t)}V${y(p.y)}`;
        else d += `L${x(p.t)},${y(p.y)}`;
      });
      if (step && pts.length) d += `H${x(t1)}`;
      g.append(s("path", { d, fill: "none" }));
      for (const p of pts) g.append(s("circle", { cx: x(p.t), cy: y(p.y), r: 3 }, s("title", {}, `${ser.name}: ${fmt(p.y)} at ${shortTime(p.t)}`)));
    }
    svg.append(g);
  });

  const legend = series.length > 1
    ? h("ul", { class: "legend" }, series.map((ser, i) => h("li", {}, h("span", { class: `swatch s${i % 6}`, "aria-hidden": "true" }), ser.name)))
    : null;
  figure.append(caption, h("div", { class: "chart-wrap" }, svg), ...(legend ? [legend] : []),
    h("details", {}, h("summary", {}, `${title}: data as a table`), table(columns, rows, { caption: title })));
  return figure;
}
