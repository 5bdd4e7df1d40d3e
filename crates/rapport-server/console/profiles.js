// Profiles: look one up by namespace and value; show its merged record, identities, fragments and related
// accounts, opportunities and people (each related entity links to its own lookup).

import * as api from "/console/api.js";
import { h, svg as svgEl, page, table, errorBox, field } from "/console/ui.js";

const NAMESPACES = ["Email", "b2b_person", "b2b_account", "b2b_opportunity", "b2b_account_person_relation",
  "b2b_opportunity_person_relation", "b2b_campaign", "b2b_marketing_list"];

const ENTITIES = [["person", "Person"], ["account", "Account"], ["opportunity", "Opportunity"]];

/** The profile holding ns:value in class `entity`, or null when none does. */
export async function lookupProfile(entity, ns, value) {
  const q = new URLSearchParams({ entity, entityIdNS: ns, entityId: value });
  try {
    return await api.get(`/access/entities?${q}`);
  } catch (err) {
    if (err.status === 404) return null;
    throw err;
  }
}

const idText = (i) => (typeof i === "string" ? i : `${i.namespace}:${i.value}`);

/** Guesses the class from a namespace, so a related entity's link opens the right lookup. */
function entityOf(ns) {
  if (ns === "b2b_account") return "account";
  if (ns === "b2b_opportunity") return "opportunity";
  return "person";
}

export async function profilesPage(params) {
  const entity = h("select", {}, ENTITIES.map(([v, l]) => h("option", { value: v }, l)));
  const ns = h("input", { type: "text", list: "namespaces", autocomplete: "off", required: true });
  const value = h("input", { type: "text", autocomplete: "off", required: true, spellcheck: "false" });
  const out = h("div", { "aria-live": "polite" });
  const form = h("form", { role: "search", "aria-label": "Profile lookup" },
    h("datalist", { id: "namespaces" }, NAMESPACES.map((n) => h("option", { value: n }))),
    h("div", { class: "row" },
      field("profile-entity", "Class", entity),
      field("profile-ns", "Namespace", ns),
      field("profile-value", "Identity value", value)),
    h("p", {}, h("button", { type: "submit" }, "Look up")));
  page("Profiles", form, out);

  const show = async (cls, n, v) => {
    out.replaceChildren(h("p", { class: "help" }, "Looking up…"));
    let p;
    try {
      p = await lookupProfile(cls, n, v);
    } catch (err) {
      out.replaceChildren(errorBox(err));
      return;
    }
    if (!p) {
      out.replaceChildren(h("p", { role: "alert" }, `No ${cls} profile holds ${n}:${v}.`));
      return;
    }
    out.replaceChildren(render(p));
    const graphBox = out.querySelector("[data-graph]");
    try {
      const q = new URLSearchParams({ entity: cls, ns: n, value: v });
      graphBox.replaceChildren(identityGraph(await api.get(`/identity/graph?${q}`)));
    } catch (err) {
      graphBox.replaceChildren(errorBox(err));
    }
  };

  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    if (!ns.value.trim() || !value.value.trim()) {
      out.replaceChildren(h("p", { class: "error", role: "alert" }, "Give a namespace and a value."));
      return;
    }
    const q = new URLSearchParams({ entity: entity.value, id: `${ns.value.trim()}:${value.value.trim()}` });
    const target = `#/profiles?${q}`;
    if (location.hash === target) show(entity.value, ns.value.trim(), value.value.trim());
    else location.hash = target;
  });

  const id = params.get("id");
  if (id && id.includes(":")) {
    const i = id.indexOf(":");
    ns.value = id.slice(0, i);
    value.value = id.slice(i + 1);
    entity.value = params.get("entity") || entityOf(ns.value);
    await show(entity.value, ns.value, value.value);
  }
}

function render(p) {
  const related = p.related || [];
  const link = (r) => {
    const q = new URLSearchParams({ entity: r.entity, id: idText(r.primary) });
    return h("a", { href: `#/profiles?${q}` }, r.name || idText(r.primary));
  };
  const section = (id, title, ...content) => h("section", { "aria-labelledby": id }, h("h2", { id }, title), ...content);
  return h("article", { "aria-labelledby": "profile-h", "data-testid": "profile" },
    h("h2", { id: "profile-h" }, `${p.entity} ${idText(p.primary)}`),
    section("ids-h", "Identities",
      h("ul", {}, (p.identities || []).map((i) => h("li", {}, h("code", {}, idText(i)))))),
    section("graph-h", "Identity graph", h("div", { "data-graph": "" }, h("p", { class: "help" }, "Loading the graph…"))),
    section("related-h", "Related",
      table([
        { label: "Relation", cell: (r) => r.relation },
        { label: "Class", cell: (r) => r.entity },
        { label: "Name", cell: link },
        { label: "Stage", cell: (r) => r.stage || (r.isClosed === undefined || r.isClosed === null ? "" : r.isClosed ? "closed" : "open") },
        { label: "Role", cell: (r) => r.role || "" },
      ], related, { empty: "No related account, opportunity or person." })),
    section("merged-h", "Merged attributes", h("pre", { class: "block", tabindex: "0" }, JSON.stringify(p.record || p.attributes || {}, null, 2))),
    section("fragments-h", "Fragments",
      table([
        { label: "Fragment", cell: (f) => String(f.id) },
        { label: "Dataset", cell: (f) => f.dataset },
        { label: "Batch", cell: (f) => String(f.batchId ?? f.batch_id ?? "") },
        { label: "Modified at source", cell: (f) => f.updatedAt ?? f.updated_at ?? "" },
      ], p.fragments || [])));
}

/** Positions of `n` nodes on a circle (the first at the top, clockwise): a layout that depends only on the
 *  sorted identities, so the same graph always looks the same. */
export function circleLayout(n, cx, cy, r) {
  if (n === 1) return [[cx, cy]];
  return Array.from({ length: n }, (_, i) => {
    const a = -Math.PI / 2 + (2 * Math.PI * i) / n;
    return [cx + r * Math.cos(a), cy + r * Math.sin(a)];
  });
}

/** The identity graph drawn as a graph (nodes namespace:value, edges the links that hold it), each node
 *  focusable with its links as its accessible description, and the same as lists beside it. */
function identityGraph(g) {
  const ids = (g.identities || []).map(idText);
  const links = (g.links || []).map((l) => ({ from: idText(l.from), to: idText(l.to), rule: l.rule, records: (l.records || []).length }));
  const refused = (g.refused || []).map((l) => ({ from: idText(l.from), to: idText(l.to), rule: l.rule }));
  if (!ids.length) return h("p", { class: "help" }, "This identity is in no graph.");
  const W = 640;
  const H = Math.max(220, Math.min(520, 120 + ids.length * 30));
  const pos = circleLayout(ids.length, W / 2, H / 2, Math.min(W, H) / 2 - 40);
  const at = new Map(ids.map((id, i) => [id, pos[i]]));
  const svg = svgEl("svg", { viewBox: `0 0 ${W} ${H}`, class: "graph", role: "group", "aria-label": `Identity graph: ${ids.length} identities, ${links.length} links` });
  const edges = svgEl("g", { class: "edges", "aria-hidden": "true" });
  for (const l of links) {
    const a = at.get(l.from);
    const b = at.get(l.to);
    if (a && b) edges.append(svgEl("line", { x1: a[0], y1: a[1], x2: b[0], y2: b[1] }));
  }
  svg.append(edges);
  const asked = idText(g.identity || "");
  ids.forEach((id, i) => {
    const [x, y] = pos[i];
    const neighbours = links.filter((l) => l.from === id || l.to === id).map((l) => (l.from === id ? l.to : l.from));
    const node = svgEl("g", {
      class: id === asked ? "node asked" : "node", tabindex: "0", role: "img", "data-testid": "graph-node",
      "aria-label": `${id}${id === asked ? " (looked up)" : ""}: linked to ${neighbours.length ? neighbours.join(", ") : "nothing"}`,
    });
    const right = x >= W / 2;
    node.append(svgEl("circle", { cx: x, cy: y, r: 7 }),
      svgEl("text", { x: x + (right ? 11 : -11), y: y + 4, "text-anchor": right ? "start" : "end" }, id.length > 40 ? `${id.slice(0, 39)}…` : id));
    svg.append(node);
  });
  return h("div", {},
    h("div", { class: "chart-wrap" }, svg),
    h("details", {}, h("summary", {}, "The graph as lists"),
      h("h3", {}, "Identities"), h("ul", { "data-testid": "graph-identities" }, ids.map((id) => h("li", {}, h("code", {}, id)))),
      h("h3", {}, "Links"),
      table([
        { label: "From", cell: (l) => h("code", {}, l.from) },
        { label: "To", cell: (l) => h("code", {}, l.to) },
        { label: "Rule", cell: (l) => String(l.rule) },
        { label: "Records", num: true, cell: (l) => String(l.records) },
      ], links, { caption: "Links holding the graph", empty: "No link (one identity)." }),
      refused.length ? h("h3", {}, "Refused or cut links") : null,
      refused.length ? table([
        { label: "From", cell: (l) => h("code", {}, l.from) },
        { label: "To", cell: (l) => h("code", {}, l.to) },
        { label: "Rule", cell: (l) => String(l.rule) },
      ], refused) : null));
}
