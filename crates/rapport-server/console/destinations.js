// Destinations: the list, creating a file destination, activating an audience to a destination (an activation
// flow), running a flow now (a task) and each flow's delivery history.

import * as api from "/console/api.js";
import { h, page, fmt, table, announce, errorBox, field } from "/console/ui.js";
import { duration } from "/console/sources.js";

export async function destinationsPage() {
  const wanted = new URLSearchParams((location.hash.split("?")[1]) || "").get("audience") || "";
  const main = page("Destinations", h("p", { class: "help" }, "Loading…"));
  const [dests, flows, audiences] = await Promise.all([
    api.get("/destinations?limit=500").then((r) => api.items(r, "destinations")),
    api.get("/activation/flows?limit=500").then((r) => api.items(r, "flows")),
    api.get("/segment/definitions?limit=500").then((r) => api.items(r, "segments")),
  ]);

  // Create a file destination.
  const dName = h("input", { type: "text", autocomplete: "off", required: true });
  const dFolder = h("input", { type: "text", autocomplete: "off", required: true, spellcheck: "false" });
  const dFormat = h("select", {}, ["csv", "json", "parquet"].map((f) => h("option", { value: f }, f.toUpperCase())));
  const dStatus = h("div", { role: "status" });
  const destForm = h("form", { "aria-labelledby": "new-dest-h" },
    h("h2", { id: "new-dest-h" }, "New file destination"),
    h("div", { class: "row" },
      field("dest-name", "Name", dName),
      field("dest-folder", "Folder", dFolder, "On the server's machine; created if missing."),
      field("dest-format", "Format", dFormat)),
    h("p", {}, h("button", { type: "submit" }, "Create destination")), dStatus);
  destForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    try {
      const d = await api.post("/destinations", { name: dName.value.trim(), config: { type: "file", folder: dFolder.value.trim(), format: dFormat.value } });
      announce(`Destination ${d.name} created`);
      await destinationsPage();
    } catch (err) {
      dStatus.replaceChildren(errorBox(err));
    }
  });

  // Activate an audience.
  const fName = h("input", { type: "text", autocomplete: "off", required: true });
  const fDest = h("select", {}, dests.map((d) => h("option", { value: d.name }, `${d.name} (${d.kind})`)));
  const fAud = h("select", {}, audiences.map((a) => h("option", { value: a.name, selected: a.name === wanted }, `${a.name} (${fmt(a.size)})`)));
  // The schedule (crates/rapport-engine/src/destinations.rs `Schedule`): on demand, once, every N hours from a
  // UTC time, or daily at a UTC time.
  const fEvery = h("select", {}, SCHEDULES.map(([v, l]) => h("option", { value: v }, l)));
  const fAt = h("input", { type: "time", value: "06:00", step: "60" });
  const syncAt = () => { fAt.disabled = !(fEvery.value === "daily" || fEvery.value.startsWith("hours:")); };
  fEvery.addEventListener("change", syncAt);
  syncAt();
  const fStatus = h("div", { role: "status" });
  const flowForm = h("form", { "aria-labelledby": "new-flow-h" },
    h("h2", { id: "new-flow-h" }, "Activate an audience"),
    h("p", { class: "help" }, "Columns: primary identity, email, first name, last name, membership status."),
    h("div", { class: "row" },
      field("flow-name", "Flow name", fName),
      field("flow-destination", "Destination", fDest),
      field("flow-audience", "Audience", fAud)),
    h("div", { class: "row" },
      field("flow-schedule", "Schedule", fEvery),
      field("flow-at", "At (UTC)", fAt, "The daily time, or the first slot of each day for every N hours.")),
    h("p", {}, h("button", { type: "submit", disabled: !dests.length || !audiences.length }, "Create flow and run it")), fStatus);
  flowForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    fStatus.replaceChildren(h("p", {}, "Creating…"));
    try {
      const flow = await api.post("/activation/flows", {
        name: fName.value.trim(),
        definition: {
          destination: fDest.value, audiences: [fAud.value], schedule: schedule(fEvery.value, fAt.value),
          mapping: [
            { source: "primaryIdentity", target: "primaryIdentity" },
            { source: "identityMap.Email", target: "email" },
            { source: "person.name.firstName", target: "firstName" },
            { source: "person.name.lastName", target: "lastName" },
            { source: "segmentMembership.status", target: "status" },
          ],
        },
      });
      fStatus.replaceChildren(h("p", {}, `Flow ${flow.name} created; running…`));
      const report = await runFlow(flow.name);
      fStatus.replaceChildren(reportView(report));
      await renderFlows();
    } catch (err) {
      fStatus.replaceChildren(errorBox(err));
    }
  });

  const flowsBox = h("div", {});
  const renderFlows = async () => {
    const list = api.items(await api.get("/activation/flows?limit=500"), "flows");
    const rows = await Promise.all(list.map(async (f) => {
      const runs = api.items(await api.get(`/activation/flows/${encodeURIComponent(f.name)}/runs?limit=20`), "runs");
      return { f, runs };
    }));
    flowsBox.replaceChildren(...(rows.length ? rows.map(({ f, runs }) => {
      const run = h("button", { type: "button", class: "secondary" }, "Run now");
      const out = h("div", { role: "status" });
      run.addEventListener("click", async () => {
        run.disabled = true;
        try {
          out.replaceChildren(reportView(await runFlow(f.name)));
          await renderFlows();
        } catch (err) {
          out.replaceChildren(errorBox(err));
        } finally {
          run.disabled = false;
        }
      });
      return h("section", { class: "panel", "aria-label": `Flow ${f.name}` },
        h("h3", {}, `${f.name} → ${f.definition.destination}`),
        h("p", {}, "Audiences: ", f.definition.audiences.join(", "), ". Schedule: ",
          h("span", { "data-testid": "schedule" }, describeSchedule(f.definition.schedule)), ". ", run), out,
        table([
          { label: "Run", cell: (r) => String(r.id) },
          { label: "State", cell: (r) => r.state },
          { label: "Started", cell: (r) => r.startedAt ?? r.started_at },
          { label: "Seconds", num: true, cell: (r) => duration(r.startedAt ?? r.started_at, r.endedAt ?? r.ended_at) },
          { label: "Rejected", num: true, cell: (r) => fmt(r.report?.rejected) },
          { label: "Sent", num: true, cell: (r) => fmt(r.report?.sent) },
          { label: "Accepted", num: true, cell: (r) => fmt(r.report?.accepted) },
          { label: "Files", cell: (r) => (r.report?.audiences || []).flatMap((a) => a.files || []).map((x) => `${x.path} (${fmt(x.rows)} rows)`).join("; ") },
        ], runs, { caption: "Delivery history", empty: "Not run yet." }));
    }) : [h("p", { class: "help" }, "No activation flow yet.")]));
  };

  main.replaceChildren(main.firstChild,
    h("section", { "aria-labelledby": "dests-h" }, h("h2", { id: "dests-h" }, "Destinations"),
      table([
        { label: "Name", cell: (d) => d.name },
        { label: "Type", cell: (d) => d.kind },
        { label: "Settings", cell: (d) => h("code", {}, JSON.stringify(d.config)) },
        { label: "Created", cell: (d) => d.createdAt ?? d.created_at },
      ], dests, { empty: "No destination yet." })),
    h("div", { class: "panel" }, destForm),
    h("div", { class: "panel" }, flowForm),
    h("section", { "aria-labelledby": "flows-h" }, h("h2", { id: "flows-h" }, "Activation flows"), flowsBox));
  await renderFlows();
}

const SCHEDULES = [["manual", "On demand"], ["once", "Once"], ["hours:3", "Every 3 hours"], ["hours:6", "Every 6 hours"],
  ["hours:8", "Every 8 hours"], ["hours:12", "Every 12 hours"], ["daily", "Daily"]];

/** The API's schedule for a choice of the form. */
function schedule(every, at) {
  if (every === "daily") return { every: "daily", at };
  if (every.startsWith("hours:")) return { every: "hours", hours: Number(every.slice(6)), at };
  return { every };
}

/** A flow's schedule in words. */
export function describeSchedule(s) {
  if (!s || s.every === "manual") return "on demand";
  if (s.every === "once") return "once";
  if (s.every === "daily") return `daily at ${s.at} UTC`;
  if (s.every === "hours") return `every ${s.hours} hours from ${s.at || "00:00"} UTC`;
  return JSON.stringify(s);
}

async function runFlow(name) {
  const { taskId } = await api.post(`/activation/flows/${encodeURIComponent(name)}/runs`);
  const task = await api.waitTask(taskId);
  return task.result;
}

function reportView(r) {
  const files = (r.audiences || []).flatMap((a) => a.files || []);
  return h("div", { class: "panel", "data-testid": "delivery" },
    h("p", {}, `Run ${r.run}: ${r.state}. Sent ${fmt(r.sent)}, accepted ${fmt(r.accepted)}, rejected ${fmt(r.rejected)}.`),
    files.length ? h("ul", {}, files.map((f) => h("li", {}, h("code", { "data-testid": "file" }, f.path), ` — ${fmt(f.rows)} rows`))) : null);
}
