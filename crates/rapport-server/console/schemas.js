// Schemas: each registered schema with its identities (primary and secondary, by namespace) and the
// relationships it takes part in, and the button that generates the standard B2B schemas (engineer or admin).

import * as api from "/console/api.js";
import { h, page, table, announce, errorBox } from "/console/ui.js";

const text = (v) => (v === null || v === undefined ? "" : typeof v === "string" ? v : JSON.stringify(v));

export async function schemasPage() {
  const main = page("Schemas", h("p", { class: "help" }, "Loading…"));
  // Generating changes the registry: offered to a role with the `data` permission only (the route enforces it).
  const me = await api.get("/auth/me").catch(() => null);
  const mayGenerate = !me || (me.permissions || []).includes("data");
  const generate = h("button", { type: "button", class: "secondary", "aria-describedby": "generate-help" }, "Generate B2B schemas");
  const genStatus = h("div", { role: "status" });
  generate.addEventListener("click", async () => {
    generate.disabled = true;
    genStatus.replaceChildren(h("p", {}, "Generating…"));
    try {
      const r = await api.post("/schemas/generate-b2b");
      const made = (r.schemas_created || []).length;
      announce(made ? `${made} schemas created` : "The B2B schemas already exist");
      await schemasPage();
      return;
    } catch (err) {
      genStatus.replaceChildren(errorBox(err));
    } finally {
      generate.disabled = false;
    }
  });
  const tools = h("div", { class: "panel" },
    mayGenerate ? h("p", {}, generate) : null,
    h("p", { class: "help", id: "generate-help", "data-testid": "generate-help" }, mayGenerate
      ? "Generate B2B schemas creates the standard B2B schemas, namespaces and relationships that do not exist yet."
      : `Generating the B2B schemas needs an engineer or admin token (this one is ${me.role}).`),
    genStatus);

  let schemas;
  try {
    schemas = api.items(await api.get("/schemas?limit=1000"), "results");
  } catch (err) {
    main.replaceChildren(main.firstChild, tools, errorBox(err));
    return;
  }
  if (!schemas.length) {
    main.replaceChildren(main.firstChild, tools, h("p", { class: "help" }, "No schema yet: generate the B2B schemas first."));
    return;
  }
  const details = await Promise.all(schemas.map((sc) =>
    api.get(`/schemas/${encodeURIComponent(sc.name)}`).then((r) => r.relationships || []).catch(() => [])));

  const overview = table([
    { label: "Schema", cell: (sc) => jump(sc.name) },
    { label: "Class", cell: (sc) => text(sc.entity) },
    { label: "Primary identity", cell: (sc) => (sc.identities || []).filter((i) => i.primary).map((i) => `${text(i.namespace)} (${text(i.path)})`).join(", ") },
    { label: "Identities", num: true, cell: (sc) => String((sc.identities || []).length) },
  ], schemas, { caption: "Registered schemas" });

  const sections = schemas.map((sc, i) => {
    const rels = details[i];
    return h("section", { class: "panel", id: `schema-${slug(sc.name)}`, "aria-labelledby": `schema-h-${slug(sc.name)}`, "data-testid": "schema" },
      h("h2", { id: `schema-h-${slug(sc.name)}` }, sc.name),
      h("p", { class: "help" }, "Class ", h("code", {}, text(sc.entity)), " · ", h("code", {}, sc.$id || ""),
        sc.profile_enabled ? " · enabled for profiles" : ""),
      h("h3", {}, "Identities"),
      table([
        { label: "Field", cell: (d) => h("code", {}, text(d.path)) },
        { label: "Namespace", cell: (d) => text(d.namespace) },
        { label: "Kind", cell: (d) => (d.primary ? "primary" : "secondary") },
      ], sc.identities || [], { caption: `Identities of ${sc.name}`, empty: "No identity descriptor." }),
      h("h3", {}, "Relationships"),
      table([
        { label: "From", cell: (r) => `${text(r.source)}.${text(r.source_path)}` },
        { label: "To", cell: (r) => `${text(r.destination)}.${text(r.destination_path)}` },
        { label: "Namespace", cell: (r) => text(r.namespace) },
        { label: "Labels", cell: (r) => [r.name_from_source, r.name_from_destination].filter(Boolean).join(" / ") },
      ], rels, { caption: `Relationships of ${sc.name}`, empty: "No relationship." }));
  });
  main.replaceChildren(main.firstChild, tools, overview, ...sections);
}

/** A link to a schema's section that moves focus there (the hash belongs to the router). */
function jump(name) {
  const a = h("a", { href: location.hash }, name);
  a.addEventListener("click", (ev) => {
    ev.preventDefault();
    const heading = document.getElementById(`schema-h-${slug(name)}`);
    if (heading) {
      heading.setAttribute("tabindex", "-1");
      heading.focus();
      heading.scrollIntoView();
    }
  });
  return a;
}

function slug(name) {
  return String(name).toLowerCase().replace(/[^a-z0-9]+/g, "-");
}
