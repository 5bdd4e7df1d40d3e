// The visual condition builder: rows of (field, operator, value) joined by "and" or "or", and relationship
// rows "exists <related> where …" holding their own rows (so account → opportunities nests). It writes PQL
// text; the audience builder puts that text in its PQL editor, which keeps the live estimate and error marks.
//
// Field paths come from the class's schema (GET /schemas/{name}/fields); relationship names are those the
// segment planner knows (docs/segment-language.md, "Relationship navigation").

import * as api from "/console/api.js";
import { h } from "/console/ui.js";

/** The relationships a condition on each class may cross, as [name, class reached]. */
export const RELATIONS = {
  person: [["accounts", "account"], ["opportunities", "opportunity"]],
  account: [["opportunities", "opportunity"], ["people", "person"], ["parentAccount", "account"]],
  opportunity: [["account", "account"], ["people", "person"]],
};

const OPS = [
  ["=", "equals"], ["!=", "does not equal"], [">", "is greater than"], [">=", "is at least"],
  ["<", "is less than"], ["<=", "is at most"], ["includes", "includes"], ["startsWith", "starts with"],
  ["isNull", "is empty"], ["notNull", "is not empty"],
];
const NO_VALUE = new Set(["isNull", "notNull"]);

/** A PQL string literal (escapes `\`, `"`, newline, tab and carriage return, the only escapes PQL reads). */
export function pqlString(text) {
  return `"${text.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n").replace(/\t/g, "\\t").replace(/\r/g, "\\r")}"`;
}

/** The literal for `value` given the field's type (`boolean`, `integer`, `array<number>`, …, or unknown). */
export function literal(value, type) {
  const v = value.trim();
  const base = (type || "").replace(/^array<(.*)>$/, "$1");
  if (base === "boolean" && (v === "true" || v === "false")) return v;
  if ((base === "integer" || base === "number") && /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(v)) return v;
  if (!type && (v === "true" || v === "false" || /^-?\d+(\.\d+)?$/.test(v))) return v;
  return pqlString(value);
}

/** Fields of each class's schema, loaded once per page: Map(class → [{path, type}]). */
async function loadFields() {
  const out = new Map();
  let schemas = [];
  try {
    schemas = api.items(await api.get("/schemas?limit=1000"), "results");
  } catch {
    return out;
  }
  await Promise.all(Object.keys(RELATIONS).map(async (entity) => {
    const schema = schemas.find((sc) => sc.entity === entity);
    if (!schema) return;
    try {
      const fields = api.items(await api.get(`/schemas/${encodeURIComponent(schema.name)}/fields?limit=1000`), "results");
      out.set(entity, fields.filter((f) => f.type !== "object"));
    } catch {
      out.set(entity, []);
    }
  }));
  return out;
}

const LETTER = { accounts: "A", account: "A", opportunities: "O", people: "P", parentAccount: "Q" };

function variable(rel, used) {
  const base = LETTER[rel] || "X";
  if (!used.includes(base)) return base;
  for (let i = 2; ; i++) if (!used.includes(`${base}${i}`)) return `${base}${i}`;
}

/** The PQL of a group over class `entity`, its paths prefixed by `prefix` (a variable and a dot, or nothing). */
export function groupPql(group, entity, prefix = "", used = []) {
  const parts = group.rows.map((row) => rowPql(row, entity, prefix, used)).filter(Boolean);
  if (parts.length <= 1) return parts.join("");
  // A binder extends as far right as it can, so a relationship row among others is parenthesised.
  return parts.map((p) => (p.startsWith("exists ") ? `(${p})` : p)).join(` ${group.join} `);
}

function rowPql(row, entity, prefix, used) {
  if (row.kind === "rel") {
    const target = (RELATIONS[entity] || []).find(([name]) => name === row.rel);
    if (!target) return "";
    const v = variable(row.rel, used);
    const inner = groupPql(row.group, target[1], `${v}.`, [...used, v]);
    return `exists ${v} from ${prefix}${row.rel} where ${inner ? `(${inner})` : "true"}`;
  }
  const path = row.path.trim();
  if (!path) return "";
  const full = `${prefix}${path}`;
  if (row.op === "isNull") return `${full}.isNull()`;
  if (row.op === "notNull") return `not (${full}.isNull())`;
  if (!row.value.trim()) return "";
  const lit = literal(row.value, row.type);
  if (row.op === "includes" || row.op === "startsWith") return `${full}.${row.op}(${lit})`;
  return `${full} ${row.op} ${lit}`;
}

/**
 * The builder's element and state. `onChange(pql)` runs after every edit with the generated text ("" while no
 * row is complete). `setEntity` starts over for another class.
 */
export function conditionBuilder({ entity, onChange }) {
  const el = h("fieldset", { class: "builder", "data-testid": "builder" });
  let fieldsP = loadFields();
  let root = { join: "and", rows: [] };
  let rootEntity = entity;
  const changed = () => onChange(groupPql(root, rootEntity));

  const datalist = (cls) => `builder-fields-${cls}`;
  const lists = h("div", {});
  fieldsP.then((fields) => {
    lists.replaceChildren(...Object.keys(RELATIONS).map((cls) =>
      h("datalist", { id: datalist(cls) }, (fields.get(cls) || []).map((f) => h("option", { value: f.path }, f.type)))));
  });

  /** Renders `group` (over class `cls`) at `path` ("root" or "2.1"), where labels start with `where`. */
  function renderGroup(group, cls, path, where) {
    const box = h("div", { class: "group", role: "group", "aria-label": `${where}conditions` });
    const join = h("select", { "aria-label": `${where}join rows with`, "data-testid": `join-${path}` },
      h("option", { value: "and", selected: group.join === "and" }, "all of (and)"),
      h("option", { value: "or", selected: group.join === "or" }, "any of (or)"));
    join.addEventListener("change", () => { group.join = join.value; changed(); });
    const rows = h("ol", { class: "rows" });
    const draw = (focusLast) => {
      rows.replaceChildren(...group.rows.map((row, i) => {
        const rowPath = path === "root" ? String(i + 1) : `${path}.${i + 1}`;
        const remove = () => {
          group.rows.splice(i, 1);
          draw(false);
          changed();
          addCond.focus();
        };
        return h("li", {}, row.kind === "rel"
          ? renderRel(row, cls, rowPath, where, remove)
          : renderAttr(row, cls, rowPath, where, remove));
      }));
      if (focusLast) rows.lastElementChild?.querySelector("input, select")?.focus();
    };
    const addCond = h("button", { type: "button", class: "secondary", "data-testid": `add-cond-${path}` }, "Add condition");
    addCond.addEventListener("click", () => {
      group.rows.push({ kind: "attr", path: "", op: "=", value: "", type: null });
      draw(true);
    });
    const relations = RELATIONS[cls] || [];
    const addRel = h("button", { type: "button", class: "secondary", "data-testid": `add-rel-${path}`, disabled: !relations.length }, "Add relationship");
    addRel.addEventListener("click", () => {
      group.rows.push({ kind: "rel", rel: relations[0][0], group: { join: "and", rows: [] } });
      draw(true);
      changed();
    });
    draw(false);
    box.append(h("div", { class: "join" }, h("span", {}, `${where ? "" : "Members match "}`), join), rows, h("p", { class: "buttons" }, addCond, " ", addRel));
    return box;
  }

  function renderAttr(row, cls, rowPath, where, remove) {
    const label = `${where}condition ${rowPath}`;
    const field = h("input", { type: "text", list: datalist(cls), autocomplete: "off", spellcheck: "false", "aria-label": `${label}: field`, placeholder: "field path", value: row.path });
    const op = h("select", { "aria-label": `${label}: operator` }, OPS.map(([v, text]) => h("option", { value: v, selected: row.op === v }, text)));
    const value = h("input", { type: "text", autocomplete: "off", spellcheck: "false", "aria-label": `${label}: value`, placeholder: "value", value: row.value, hidden: NO_VALUE.has(row.op) });
    const typeNote = h("span", { class: "help type" });
    const update = async () => {
      row.path = field.value;
      row.op = op.value;
      row.value = value.value;
      value.hidden = NO_VALUE.has(row.op);
      const fields = (await fieldsP).get(cls) || [];
      const f = fields.find((x) => x.path === row.path.trim());
      row.type = f ? f.type : null;
      typeNote.textContent = f ? f.type : "";
      changed();
    };
    for (const c of [field, value]) c.addEventListener("input", update);
    op.addEventListener("change", update);
    if (row.path) update();
    return h("div", { class: "cond", "data-testid": `row-${rowPath}` }, field, op, value, typeNote,
      h("button", { type: "button", class: "link", "aria-label": `Remove ${label}`, onclick: remove }, "Remove"));
  }

  function renderRel(row, cls, rowPath, where, remove) {
    const label = `${where}relationship ${rowPath}`;
    const target = () => ((RELATIONS[cls] || []).find(([n]) => n === row.rel) || [null, cls])[1];
    const rel = h("select", { "aria-label": `${label}: related`, "data-testid": `rel-${rowPath}` },
      (RELATIONS[cls] || []).map(([n, to]) => h("option", { value: n, selected: row.rel === n }, `${n} (${to})`)));
    const inner = h("div", {});
    const drawInner = () => inner.replaceChildren(renderGroup(row.group, target(), rowPath, `${row.rel} › `));
    rel.addEventListener("change", () => {
      row.rel = rel.value;
      row.group = { join: "and", rows: [] };
      drawInner();
      changed();
    });
    drawInner();
    return h("div", { class: "rel", "data-testid": `row-${rowPath}` },
      h("div", { class: "cond" }, h("span", {}, "exists"), rel, h("span", {}, "where"),
        h("button", { type: "button", class: "link", "aria-label": `Remove ${label}`, onclick: remove }, "Remove")),
      inner);
  }

  const body = h("div", {});
  const draw = () => body.replaceChildren(renderGroup(root, rootEntity, "root", ""));
  draw();
  el.append(h("legend", {}, "Visual builder"),
    h("p", { class: "help" }, "Each edit rewrites the PQL definition below (edit the PQL by hand for anything else)."),
    lists, body);
  return {
    el,
    setEntity(cls) {
      rootEntity = cls;
      root = { join: "and", rows: [] };
      draw();
    },
    pql: () => groupPql(root, rootEntity),
  };
}
