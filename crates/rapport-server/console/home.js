// Home (counts and audience sizes) and the schema browser.

import * as api from "/console/api.js";
import { h, page, fmt, table, errorBox } from "/console/ui.js";

export async function homePage() {
  const main = page("Home", h("p", { class: "help" }, "Loading…"));
  const audiences = api.items(await api.get("/segment/definitions?limit=500"), "segments");
  const cards = h("div", { class: "cards" },
    card("Audiences", audiences.length),
    card("Audience members", audiences.reduce((s, a) => s + (a.size || 0), 0)));
  const summary = await api.get("/profiles/summary").catch(() => null);
  if (summary && Array.isArray(summary.entities)) {
    for (const e of summary.entities) cards.append(card(`${e.entity} profiles`, e.profiles));
  }
  const max = Math.max(1, ...audiences.map((a) => a.size || 0));
  const bars = audiences.length
    ? h("ul", { class: "bars", "aria-label": "Audience sizes" }, audiences.map((a) =>
        h("li", {},
          h("a", { href: `#/audiences/${encodeURIComponent(a.name)}` }, a.name),
          h("span", { class: "bar-track", "aria-hidden": "true" }, bar((100 * (a.size || 0)) / max)),
          h("span", { class: "num" }, fmt(a.size)))))
    : h("p", { class: "help" }, "No audience yet. ", h("a", { href: "#/audiences/new" }, "Build one"), ".");
  main.replaceChildren(main.firstChild, h("section", { "aria-labelledby": "counts" }, h("h2", { id: "counts" }, "Counts"), cards),
    h("section", { "aria-labelledby": "sizes" }, h("h2", { id: "sizes" }, "Audience sizes"), bars));
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

export async function schemasPage() {
  const main = page("Schemas", h("p", { class: "help" }, "Loading…"));
  let answer;
  try {
    answer = await api.get("/schemas?limit=100");
  } catch (err) {
    main.append(errorBox(err));
    return;
  }
  const schemas = api.items(answer, "schemas");
  main.replaceChildren(main.firstChild, table([
    { label: "Schema", cell: (s) => s.title || s.name || s.id },
    { label: "Class", cell: (s) => s.class || s.entity || s.meta?.class || "" },
    { label: "Id", cell: (s) => h("code", {}, s.$id || s.id || "") },
  ], schemas, { empty: "No schema yet: generate the B2B schemas first." }));
}
