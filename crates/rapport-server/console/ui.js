// Small DOM helpers shared by the pages: element building without innerHTML (no injection from data), number
// formatting, announcements for screen readers.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") el.className = v;
    else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

/** The SVG namespace, as the HTML parser assigns it (no origin-like URL written in the console's files). */
export const SVG_NS = new DOMParser().parseFromString("<svg></svg>", "text/html").querySelector("svg").namespaceURI;

/** Like `h`, for SVG elements (attributes only: presentation comes from the stylesheet's classes). */
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) if (v !== undefined && v !== null) el.setAttribute(k, String(v));
  for (const c of children.flat()) if (c !== undefined && c !== null) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

export const fmt = (n) => (typeof n === "number" ? n.toLocaleString("en-US") : n === null || n === undefined ? "—" : String(n));

export function announce(text) {
  const toast = document.getElementById("toast");
  toast.textContent = "";
  // A fresh text node makes screen readers announce it again even when it is the same text.
  setTimeout(() => { toast.textContent = text; }, 30);
  clearTimeout(announce.timer);
  announce.timer = setTimeout(() => { toast.textContent = ""; }, 6000);
}

/** Replaces the page content and moves focus to its heading, so keyboard and screen-reader users land there. */
export function page(title, ...content) {
  const main = document.getElementById("main");
  const heading = h("h1", { tabindex: "-1", id: "page-title" }, title);
  main.replaceChildren(heading, ...content);
  document.title = `${title} · Rapport console`;
  heading.focus();
  return main;
}

export function table(columns, rows, { caption, empty = "Nothing yet." } = {}) {
  if (!rows.length) return h("p", { class: "help" }, empty);
  return h("div", { class: "table-wrap" },
    h("table", {},
      caption ? h("caption", { class: "help" }, caption) : null,
      h("thead", {}, h("tr", {}, columns.map((c) => h("th", { scope: "col", class: c.num ? "num" : null }, c.label)))),
      h("tbody", {}, rows.map((r) => h("tr", {}, columns.map((c) => h("td", { class: c.num ? "num" : null }, c.cell(r))))))));
}

export function errorBox(err) {
  const lines = [err.message];
  for (const d of err.details || []) {
    const where = d.path || (d.line ? `line ${d.line}, column ${d.column}` : null);
    if (where || d.message) lines.push(`${where ? where + ": " : ""}${d.message || ""}`);
  }
  return h("div", { class: "panel error", role: "alert" }, lines.map((l) => h("div", {}, l)));
}

export function field(id, label, input, help) {
  input.id = id;
  if (help) input.setAttribute("aria-describedby", `${id}-help`);
  return h("div", {}, h("label", { for: id }, label), input, help ? h("p", { class: "help", id: `${id}-help` }, help) : null);
}
