// Profiles: look one up by namespace and value; show its merged record, identities, fragments and related
// accounts, opportunities and people (each related entity links to its own lookup).

import * as api from "/console/api.js";
import { h, page, table, errorBox, field } from "/console/ui.js";

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
