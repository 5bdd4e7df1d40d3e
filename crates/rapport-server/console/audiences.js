// Audiences: the list, the builder (PQL editor with errors marked in place and a live exact estimate) and one
// audience's page (definition, members by status, evaluation, history, explain).

import * as api from "/console/api.js";
import { h, page, fmt, table, announce, errorBox, field } from "/console/ui.js";
import { conditionBuilder } from "/console/builder.js";

const PAGE = 50;

export async function audiencesPage() {
  const main = page("Audiences",
    h("p", {}, h("a", { class: "button", href: "#/audiences/new" }, "New audience")),
    h("p", { class: "help" }, "Loading…"));
  const list = api.items(await api.get("/segment/definitions?limit=500"), "segments");
  main.lastChild.replaceWith(table([
    { label: "Name", cell: (a) => h("a", { href: `#/audiences/${encodeURIComponent(a.name)}` }, a.name) },
    { label: "Members of", cell: (a) => a.entity },
    { label: "Size", num: true, cell: (a) => fmt(a.size) },
    { label: "Definition (PQL)", cell: (a) => h("code", {}, a.expression?.value ?? "") },
  ], list, { empty: "No audience yet." }));
}

/** Byte offsets (the API's spans, over UTF-8) to string indexes (UTF-16), so marks land on the right text. */
export function byteToIndex(text, byte) {
  const enc = new TextEncoder();
  let bytes = 0;
  let i = 0;
  for (const ch of text) {
    if (bytes >= byte) return i;
    bytes += enc.encode(ch).length;
    i += ch.length;
  }
  return text.length;
}

/** The PQL editor: a textarea over a mirror that marks the error's span; the error text is tied to the
 *  textarea with aria-describedby and aria-invalid. */
function pqlEditor(id, initial) {
  const textarea = h("textarea", {
    id, rows: 5, spellcheck: "false", autocapitalize: "off", autocomplete: "off",
    "aria-describedby": `${id}-diag ${id}-help`,
  });
  textarea.value = initial || "";
  const mirror = h("div", { class: "mirror", "aria-hidden": "true" });
  const diag = h("div", { id: `${id}-diag`, class: "diag error" });
  const wrap = h("div", { class: "editor" }, mirror, textarea);
  const sync = () => { mirror.scrollTop = textarea.scrollTop; };
  textarea.addEventListener("scroll", sync);
  const editor = {
    textarea, wrap, diag,
    clear() {
      mirror.replaceChildren(document.createTextNode(textarea.value + "\n"));
      textarea.removeAttribute("aria-invalid");
      diag.replaceChildren();
    },
    /** Marks a diagnostic ({span: {start, end}, line, column, hint}) against the current text. */
    mark(message, detail) {
      const text = textarea.value;
      const span = detail && detail.span;
      if (span) {
        const start = byteToIndex(text, span.start);
        const end = Math.max(start, byteToIndex(text, span.end));
        const marked = text.slice(start, end);
        const m = h("mark", { class: marked ? null : "eol" }, marked || " ");
        mirror.replaceChildren(document.createTextNode(text.slice(0, start)), m, document.createTextNode(text.slice(end) + "\n"));
      } else {
        mirror.replaceChildren(document.createTextNode(text + "\n"));
      }
      textarea.setAttribute("aria-invalid", "true");
      const where = detail && detail.line ? `Line ${detail.line}, column ${detail.column}: ` : "";
      diag.replaceChildren(
        h("div", { "data-testid": "pql-error" }, `${where}${message}`),
        detail && detail.hint ? h("div", { class: "help" }, `Hint: ${detail.hint}`) : null);
      sync();
    },
  };
  editor.clear();
  return editor;
}

export async function builderPage() {
  const name = h("input", { type: "text", required: true, autocomplete: "off", pattern: "[A-Za-z0-9._-]+" });
  const entity = h("select", {}, h("option", { value: "person" }, "People"), h("option", { value: "account" }, "Accounts"));
  const editor = pqlEditor("pql", "");
  const estimate = h("output", { class: "estimate", id: "estimate", "aria-live": "polite", "aria-atomic": "true", for: "pql" }, "Type a definition to see its size.");
  const builder = conditionBuilder({
    entity: entity.value,
    onChange: (text) => {
      if (!text) return;
      editor.textarea.value = text;
      editor.textarea.dispatchEvent(new Event("input"));
    },
  });
  const save = h("button", { type: "submit" }, "Save audience");
  const status = h("div", { role: "alert" });
  const form = h("form", { novalidate: true },
    field("audience-name", "Name", name, "Letters, digits, `-`, `_` or `.`."),
    field("audience-entity", "Members are", entity),
    builder.el,
    h("label", { for: "pql" }, "Definition (PQL)"),
    editor.wrap,
    h("p", { class: "help", id: "pql-help" },
      'E.g. extendedWorkDetails.departments.includes("Sales") and exists A from accounts where (A.accountName = "Bodea")'),
    editor.diag,
    h("section", { "aria-labelledby": "estimate-h", class: "panel" },
      h("h2", { id: "estimate-h" }, "Size"), estimate),
    h("p", {}, save),
    status);
  page("New audience", form);

  let seq = 0;
  let inflight = null;
  let timer = null;
  const run = async () => {
    const text = editor.textarea.value;
    const mine = ++seq;
    if (inflight) inflight.abort();
    if (!text.trim()) {
      editor.clear();
      estimate.textContent = "Type a definition to see its size.";
      return;
    }
    inflight = new AbortController();
    estimate.setAttribute("aria-busy", "true");
    try {
      const r = await api.post("/segment/estimate", { entity: entity.value, expression: { type: "PQL", format: "pql/text", value: text } }, { signal: inflight.signal });
      if (mine !== seq) return;
      editor.clear();
      const noun = entity.value === "account" ? "accounts" : "people";
      estimate.replaceChildren("Exact size now: ", h("strong", { "data-testid": "estimate", "data-value": String(r.estimatedSize) }, fmt(r.estimatedSize)), ` ${noun}`);
    } catch (err) {
      if (err.name === "AbortError" || mine !== seq) return;
      editor.mark(err.message, err.details[0]);
      estimate.textContent = "No estimate: the definition has an error.";
    } finally {
      if (mine === seq) estimate.removeAttribute("aria-busy");
    }
  };
  const schedule = () => { clearTimeout(timer); timer = setTimeout(run, 300); };
  editor.textarea.addEventListener("input", () => { editor.clear(); schedule(); });
  entity.addEventListener("change", () => { builder.setEntity(entity.value); schedule(); });

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    status.replaceChildren();
    if (!name.value.trim()) {
      status.replaceChildren(h("p", { class: "error" }, "Give the audience a name."));
      name.focus();
      return;
    }
    save.disabled = true;
    try {
      const saved = await api.post("/segment/definitions", {
        name: name.value.trim(), entity: entity.value,
        expression: { type: "PQL", format: "pql/text", value: editor.textarea.value },
      });
      announce(`Audience ${saved.name} saved: ${fmt(saved.size)} members`);
      location.hash = `#/audiences/${encodeURIComponent(saved.name)}`;
    } catch (err) {
      if (err.details[0] && err.details[0].span) editor.mark(err.message, err.details[0]);
      status.replaceChildren(errorBox(err));
    } finally {
      save.disabled = false;
    }
  });
}

export async function audiencePage(name) {
  const enc = encodeURIComponent(name);
  const a = await api.get(`/segment/definitions/${enc}`);
  const statusSel = h("select", {},
    h("option", { value: "" }, "Current (realized and existing)"),
    h("option", { value: "realized" }, "Realized"),
    h("option", { value: "existing" }, "Existing"),
    h("option", { value: "exited" }, "Exited"));
  const members = h("div", {});
  const history = h("div", {});
  const evalStatus = h("p", { role: "status" });
  const evaluate = h("button", { type: "button", class: "secondary" }, "Evaluate now");
  const explainInput = h("input", { type: "text", placeholder: "namespace:value, e.g. Email:ann@bodea.com", autocomplete: "off" });
  const explainOut = h("div", {});
  const explainForm = h("form", {}, field("explain-id", "Why is this profile in or out?", explainInput),
    h("p", {}, h("button", { type: "submit", class: "secondary" }, "Explain")), explainOut);
  const sizes = Object.entries(a.statuses || {}).map(([k, v]) => `${k}: ${fmt(v)}`).join(" · ");
  page(`Audience ${a.name}`,
    h("section", { class: "panel", "aria-labelledby": "def-h" },
      h("h2", { id: "def-h" }, "Definition"),
      h("pre", { class: "block" }, a.expression.value),
      h("p", {}, "Members are ", h("strong", {}, a.entity), ". Size: ", h("strong", { "data-testid": "size" }, fmt(a.size)),
        sizes ? ` (${sizes})` : "", a.evaluatedAt ? `, evaluated ${a.evaluatedAt}` : ""),
      h("p", {}, evaluate, " ", h("a", { href: `#/destinations?audience=${enc}` }, "Activate to a destination")), evalStatus),
    h("section", { "aria-labelledby": "members-h" }, h("h2", { id: "members-h" }, "Members"),
      field("member-status", "Status", statusSel), members),
    h("section", { "aria-labelledby": "plan-h" }, h("h2", { id: "plan-h" }, "Plan"), h("pre", { class: "block" }, a.plan || "")),
    h("section", { "aria-labelledby": "explain-h" }, h("h2", { id: "explain-h" }, "Explain"), explainForm),
    h("section", { "aria-labelledby": "history-h" }, h("h2", { id: "history-h" }, "History"), history));

  const loadMembers = async (start = 0) => {
    const q = new URLSearchParams({ limit: String(PAGE), start: String(start) });
    if (statusSel.value) q.set("status", statusSel.value);
    const r = await api.get(`/segment/definitions/${enc}/members?${q}`);
    const list = api.items(r, "members");
    const next = r._page && r._page.next;
    members.replaceChildren(
      table([
        { label: "Primary identity", cell: (m) => h("a", { href: `#/profiles?${new URLSearchParams({ id: m.primary })}` }, m.primary) },
        { label: "Status", cell: (m) => h("span", { class: `badge ${m.status}` }, m.status) },
        { label: "Name", cell: (m) => [m.firstName, m.lastName].filter(Boolean).join(" ") },
        { label: "Account", cell: (m) => m.accountName || "" },
      ], list, { empty: "No member with this status." }),
      h("p", { class: "help" }, `Showing ${fmt(start + (list.length ? 1 : 0))}–${fmt(start + list.length)} of ${fmt(r._page?.total ?? r._page?.count)}`),
      h("p", {},
        start > 0 ? h("button", { type: "button", class: "secondary", onclick: () => loadMembers(Math.max(0, start - PAGE)) }, "Previous") : null, " ",
        next !== null && next !== undefined ? h("button", { type: "button", class: "secondary", onclick: () => loadMembers(Number(next)) }, "Next") : null));
  };
  statusSel.addEventListener("change", () => loadMembers(0));

  const loadHistory = async () => {
    const r = await api.get(`/segment/definitions/${enc}/history?limit=50`);
    history.replaceChildren(table([
      { label: "When", cell: (e) => e.at },
      { label: "Member", cell: (e) => e.member },
      { label: "Event", cell: (e) => h("span", { class: `badge ${e.event}` }, e.event) },
      { label: "Cause", cell: (e) => e.cause ? `${e.cause.entity || ""} ${e.cause.kind || ""} ${e.cause.primary || ""}`.trim() : (e.run ? `evaluation ${e.run}` : "") },
    ], api.items(r, "entries"), { empty: "No entry or exit yet." }));
  };

  evaluate.addEventListener("click", async () => {
    evaluate.disabled = true;
    evalStatus.textContent = "Evaluating…";
    try {
      const { taskId } = await api.post("/segment/jobs", { segmentId: name });
      const task = await api.waitTask(taskId);
      const r = task.result || {};
      evalStatus.textContent = `Evaluated: ${fmt(r.size)} members (${fmt(r.change?.entered)} entered, ${fmt(r.change?.exited)} exited).`;
      await loadMembers(0);
      await loadHistory();
    } catch (err) {
      evalStatus.replaceChildren(errorBox(err));
    } finally {
      evaluate.disabled = false;
    }
  });

  explainForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const v = explainInput.value.trim();
    const i = v.indexOf(":");
    if (i < 1) {
      explainOut.replaceChildren(h("p", { class: "error", role: "alert" }, "Write the identity as namespace:value."));
      return;
    }
    try {
      const q = new URLSearchParams({ ns: v.slice(0, i), value: v.slice(i + 1) });
      const r = await api.get(`/segment/definitions/${enc}/explain?${q}`);
      const p = r.profile;
      explainOut.replaceChildren(
        h("p", { role: "status" }, `${p.primary} is ${p.member ? "a member" : "not a member"}.`),
        h("pre", { class: "block" }, JSON.stringify(p.trace, null, 2)));
    } catch (err) {
      explainOut.replaceChildren(errorBox(err));
    }
  });

  await Promise.all([loadMembers(0), loadHistory()]);
}
