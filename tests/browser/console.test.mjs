// Drives the Rapport console in headless Debian Chromium: sign in with a token, build the Bodea audience in the
// builder (a parse error first, shown in place; then the estimate, compared with the count computed by the
// CLI; then the same audience built with the visual condition builder, whose PQL must give the same count),
// save it, look up one of its members (with the identity graph drawn), activate it to a new file destination
// (the file's data rows counted from disk), and visit the home plots, Sources and Schemas pages, whose figures
// are compared with the CLI's. Any mismatch throws: the script exits non-zero and says what differed.
//
// Environment (run.sh sets it): RAPPORT_URL, RAPPORT_TOKEN, RAPPORT_PQL, RAPPORT_EXPECTED (the CLI's count),
// RAPPORT_BATCHES (a file holding `rapport batch list --json`), RAPPORT_DEST_DIR (an empty folder for the file
// destination), ARTIFACTS (screenshots).

import { chromium } from "playwright-core";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

const need = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`environment variable ${k} is required`);
  return v;
};
const url = need("RAPPORT_URL");
const token = need("RAPPORT_TOKEN");
const pql = need("RAPPORT_PQL");
const expected = Number(need("RAPPORT_EXPECTED"));
const destDir = need("RAPPORT_DEST_DIR");
// The store's batches as the CLI lists them, read before the server started.
const cliBatches = JSON.parse(fs.readFileSync(need("RAPPORT_BATCHES"), "utf8"));
// `rapport status --json` before the server started: profiles per class, counted by the CLI.
const cliStatus = JSON.parse(fs.readFileSync(need("RAPPORT_STATUS"), "utf8"));
const artifacts = process.env.ARTIFACTS || path.join(path.dirname(new URL(import.meta.url).pathname), "artifacts");
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";
fs.mkdirSync(artifacts, { recursive: true });

let passed = 0;
let failed = 0;
const results = [];
async function step(name, body) {
  try {
    await body();
    passed++;
    results.push(`ok   ${name}`);
    console.log(`ok   ${name}`);
  } catch (err) {
    failed++;
    results.push(`FAIL ${name}: ${err.message}`);
    console.log(`FAIL ${name}: ${err.stack || err.message}`);
    throw err;
  }
}
function expectEqual(actual, wanted, what) {
  if (actual !== wanted) throw new Error(`${what}: expected ${JSON.stringify(wanted)}, got ${JSON.stringify(actual)}`);
}

const userData = fs.mkdtempSync(path.join(os.tmpdir(), "rapport-chromium-"));
// A fresh profile each run (Playwright passes it to Chromium as --user-data-dir).
const context = await chromium.launchPersistentContext(userData, {
  executablePath: chromiumPath,
  headless: true,
  viewport: { width: 1280, height: 900 },
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const page = await context.newPage();
const consoleErrors = [];
page.on("pageerror", (e) => consoleErrors.push(String(e)));
// Chromium logs every 4xx answer as "Failed to load resource"; those the scenario provokes (a bad token, a
// PQL error) are expected, so failed loads are judged by status instead: any 5xx fails the run.
page.on("console", (m) => {
  if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) consoleErrors.push(m.text());
});
page.on("response", (r) => { if (r.status() >= 500) consoleErrors.push(`${r.status()} from ${r.url()}`); });
// Nothing but this server: any other request fails the run (no CDN, no network at run time).
const foreign = [];
await page.route("**/*", (route) => {
  const u = route.request().url();
  if (u.startsWith(url)) return route.continue();
  foreign.push(u);
  return route.abort();
});
const shot = (name) => page.screenshot({ path: path.join(artifacts, `${name}.png`), fullPage: true });
const audience = `bodea-console-${Date.now()}`;

try {
  await step("the console asks for a token and refuses a bad one", async () => {
    await page.goto(`${url}/`);
    await page.getByLabel("API token").waitFor();
    await page.getByLabel("API token").fill("not-a-token");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByText("That token was not accepted.").waitFor();
    await shot("01-login-refused");
  });

  await step("signs in with the token (kept in sessionStorage)", async () => {
    await page.getByLabel("API token").fill(token);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("heading", { name: "Audiences", level: 1 }).waitFor();
    const stored = await page.evaluate(() => sessionStorage.getItem("rapport.token"));
    expectEqual(stored, token, "token in sessionStorage");
  });

  await step("the builder marks a parse error at its span", async () => {
    await page.getByRole("link", { name: "New audience" }).click();
    await page.getByLabel("Name").fill(audience);
    const editor = page.getByLabel("Definition (PQL)");
    const bad = 'workAddress.city == "Paris"';
    await editor.fill(bad);
    const error = page.getByTestId("pql-error");
    await error.waitFor({ timeout: 15000 });
    expectEqual(await editor.getAttribute("aria-invalid"), "true", "aria-invalid on the editor");
    // By hand: `==` is bytes 17..19 of this ASCII text, so the mark holds `==` and the mirror's text before it
    // is `workAddress.city `.
    const marked = await page.locator(".editor mark").textContent();
    expectEqual(marked, "==", "marked text");
    const before = await page.evaluate(() => document.querySelector(".editor .mirror").firstChild.textContent);
    expectEqual(before, "workAddress.city ", "text before the mark");
    // With a two-byte character before the error (ë), the server's byte span must still land on `==`.
    const accented = 'person.name.firstName = "Zoë" and x == 1';
    await editor.fill(accented);
    await page.waitForFunction(() => document.querySelector(".editor mark")?.previousSibling?.textContent === 'person.name.firstName = "Zoë" and x ', null, { timeout: 15000 })
      .catch(async () => {
        const got = await page.evaluate(() => document.querySelector(".editor mark")?.textContent);
        throw new Error(`after a non-ASCII character the mark holds ${JSON.stringify(got)}, expected "=="`);
      });
    expectEqual(await page.locator(".editor mark").textContent(), "==", "marked text after a non-ASCII character");
    await editor.fill(bad);
    await page.waitForFunction(() => document.querySelector(".editor mark")?.textContent === "==");
    await shot("02-builder-parse-error");
  });

  await step("the live estimate equals the CLI's count", async () => {
    const editor = page.getByLabel("Definition (PQL)");
    await editor.fill("");
    await editor.pressSequentially(pql.slice(0, 40), { delay: 5 });
    await editor.fill(pql);
    const estimate = page.getByTestId("estimate");
    await page.waitForFunction(
      (want) => document.querySelector('[data-testid="estimate"]')?.dataset.value === want,
      String(expected), { timeout: 60000 },
    ).catch(async () => {
      const got = await estimate.getAttribute("data-value").catch(() => null);
      throw new Error(`estimate shown ${got}, expected ${expected}`);
    });
    expectEqual(await page.getByLabel("Definition (PQL)").getAttribute("aria-invalid"), null, "no error marked");
    const live = await page.locator("#estimate").getAttribute("aria-live");
    expectEqual(live, "polite", "estimate is announced");
    await shot("03-builder-estimate");
  });

  await step("the visual builder writes the Bodea audience; its estimate equals the CLI's count", async () => {
    const editor = page.getByLabel("Definition (PQL)");
    await editor.fill("");
    const builder = page.getByTestId("builder");
    // Sales people ...
    await builder.getByTestId("add-cond-root").click();
    const r1 = builder.getByTestId("row-1");
    await r1.getByLabel("condition 1: field").fill("extendedWorkDetails.departments");
    await r1.getByLabel("condition 1: operator").selectOption("includes");
    await r1.getByLabel("condition 1: value").fill("Sales");
    // ... and exists an account where exists one of its opportunities where it is not closed.
    await builder.getByTestId("add-rel-root").click();
    await builder.getByTestId("rel-2").selectOption("accounts");
    await builder.getByTestId("add-rel-2").click();
    await builder.getByTestId("rel-2.1").selectOption("opportunities");
    await builder.getByTestId("add-cond-2.1").click();
    const leaf = builder.getByTestId("row-2.1.1");
    await leaf.getByLabel("condition 2.1.1: field").fill("isClosed");
    await leaf.getByLabel("condition 2.1.1: operator").selectOption("=");
    await leaf.getByLabel("condition 2.1.1: value").fill("false");
    // By hand, the PQL these rows mean (the relationship row is parenthesised because a row precedes it).
    const want = 'extendedWorkDetails.departments.includes("Sales") and (exists A from accounts where (exists O from A.opportunities where (O.isClosed = false)))';
    await page.waitForFunction((w) => document.getElementById("pql").value === w, want, { timeout: 15000 })
      .catch(async () => { throw new Error(`the builder wrote ${JSON.stringify(await editor.inputValue())}, expected ${JSON.stringify(want)}`); });
    await page.waitForFunction(
      (w) => document.querySelector('[data-testid="estimate"]')?.dataset.value === w,
      String(expected), { timeout: 60000 },
    ).catch(async () => {
      const got = await page.getByTestId("estimate").getAttribute("data-value").catch(() => null);
      throw new Error(`the builder's estimate shows ${got}, expected ${expected}`);
    });
    expectEqual(await editor.getAttribute("aria-invalid"), null, "no error marked on the builder's PQL");
    await shot("03b-visual-builder");
    // Removing the leaf condition leaves `where true` inside: still valid PQL (no error marked).
    await leaf.getByRole("button", { name: "Remove" }).click();
    await page.waitForFunction(() => document.getElementById("pql").value.includes("where true"), null, { timeout: 15000 });
    await page.waitForFunction(() => document.querySelector('[data-testid="estimate"]'), null, { timeout: 30000 });
    // Put the condition back, so the audience saved next is the Bodea one.
    await builder.getByTestId("add-cond-2.1").click();
    await leaf.getByLabel("condition 2.1.1: field").fill("isClosed");
    await leaf.getByLabel("condition 2.1.1: value").fill("false");
    await page.waitForFunction((w) => document.getElementById("pql").value === w, want, { timeout: 15000 });
    await page.waitForFunction(
      (w) => document.querySelector('[data-testid="estimate"]')?.dataset.value === w && !document.getElementById("estimate").hasAttribute("aria-busy"),
      String(expected), { timeout: 60000 },
    );
  });

  await step("saves the audience; its size is the same count", async () => {
    await page.getByRole("button", { name: "Save audience" }).click();
    await page.getByRole("heading", { name: `Audience ${audience}` }).waitFor({ timeout: 60000 });
    const size = await page.getByTestId("size").textContent();
    expectEqual(Number(size.replace(/,/g, "")), expected, "saved audience size");
    await page.locator("table tbody tr").first().waitFor();
    await shot("04-audience-members");
  });

  let member;
  await step("looks up a member's profile from the members list", async () => {
    const link = page.locator("section[aria-labelledby=members-h] tbody tr td:first-child a").first();
    member = (await link.textContent()).trim();
    await link.click();
    const profile = page.getByTestId("profile");
    await profile.waitFor({ timeout: 30000 });
    const ids = await profile.locator("section[aria-labelledby=ids-h] li").allTextContents();
    if (!ids.map((s) => s.trim()).includes(member)) throw new Error(`profile identities ${JSON.stringify(ids)} lack ${member}`);
    // Every member is related to an account (the definition requires one with an open opportunity).
    const classes = await profile.locator("section[aria-labelledby=related-h] tbody tr td:nth-child(2)").allTextContents();
    if (!classes.includes("account")) throw new Error(`no related account among ${JSON.stringify(classes)}`);
    // The identity graph: one focusable node per identity of the profile, the looked-up one among them.
    const nodes = profile.locator("[data-testid=graph-node]");
    await nodes.first().waitFor({ timeout: 30000 });
    const labels = await nodes.evaluateAll((els) => els.map((e) => e.getAttribute("aria-label")));
    const listed = (await profile.locator("[data-testid=graph-identities] li").allTextContents()).map((t) => t.trim());
    if (!listed.includes(member)) throw new Error(`graph identities ${JSON.stringify(listed)} lack ${member}`);
    expectEqual(labels.length, listed.length, "graph nodes (one per identity)");
    if (!ids.every((i) => listed.includes(i.trim()))) throw new Error(`graph identities ${JSON.stringify(listed)} differ from the profile's ${JSON.stringify(ids)}`);
    await nodes.first().focus();
    expectEqual(await page.evaluate(() => document.activeElement?.dataset.testid), "graph-node", "a graph node takes keyboard focus");
    await shot("05-profile");
  });

  await step("activates the audience to a new file destination; the file holds every member", async () => {
    await page.getByRole("link", { name: "Destinations" }).click();
    await page.getByRole("heading", { name: "New file destination" }).waitFor();
    await page.getByLabel("Name", { exact: true }).fill("browser-files");
    await page.getByLabel("Folder").fill(destDir);
    await page.getByRole("button", { name: "Create destination" }).click();
    await page.getByRole("cell", { name: "browser-files" }).waitFor();
    await page.getByLabel("Flow name").fill("browser-flow");
    await page.getByLabel("Destination", { exact: true }).selectOption("browser-files");
    await page.getByLabel("Audience", { exact: true }).selectOption(audience);
    await page.getByLabel("Schedule").selectOption("hours:6");
    await page.getByLabel("At (UTC)").fill("02:30");
    await page.getByRole("button", { name: "Create flow and run it" }).click();
    const file = page.getByTestId("delivery").getByTestId("file").first();
    await file.waitFor({ timeout: 120000 });
    const filePath = (await file.textContent()).trim();
    if (!filePath.startsWith(destDir)) throw new Error(`file ${filePath} is not under ${destDir}`);
    const lines = fs.readFileSync(filePath, "utf8").split(/\r?\n/).filter((l) => l.length > 0);
    expectEqual(lines.length - 1, expected, `data rows in ${path.basename(filePath)}`);
    const header = lines[0].replace(/"/g, "").split(",");
    expectEqual(header.join(","), "primaryIdentity,email,firstName,lastName,status", "file header");
    if (!lines.some((l) => l.includes(member.replace(/"/g, "")))) throw new Error(`member ${member} is not in the file`);
    await page.getByRole("cell", { name: "success" }).first().waitFor();
    // The delivery history shows the run's duration in seconds.
    const secs = await page.locator("section[aria-label='Flow browser-flow'] tbody tr td:nth-child(4)").first().textContent();
    if (!/^\d+\.\d{3}$/.test(secs.trim())) throw new Error(`run duration ${JSON.stringify(secs)} is not seconds`);
    // The schedule chosen in the form is the flow's, as the API stores it, and is shown in words.
    const shown = await page.locator("section[aria-label='Flow browser-flow'] [data-testid=schedule]").textContent();
    expectEqual(shown, "every 6 hours from 02:30 UTC", "the flow's schedule as shown");
    const stored = await (await fetch(`${url}/activation/flows/browser-flow`, { headers: { Authorization: `Bearer ${token}` } })).json();
    const sched = stored.definition.schedule;
    expectEqual(`${sched.every}|${sched.hours}|${sched.at}|${Object.keys(sched).length}`, "hours|6|02:30|3", "the flow's schedule in the API");
    await shot("06-activation");
  });

  await step("the home page plots the audience's size over time and the ingestion throughput", async () => {
    await page.getByRole("link", { name: "Home" }).click();
    await page.getByRole("heading", { name: "Home", level: 1 }).waitFor();
    const sizes = page.locator("svg#plot-sizes");
    await sizes.waitFor({ timeout: 30000 });
    const label = await sizes.getAttribute("aria-label");
    if (!label.includes(`${audience}: ${expected.toLocaleString("en-US")}`)) throw new Error(`size plot summary ${JSON.stringify(label)} lacks ${audience}'s size ${expected}`);
    // The table alternative: the audience's last row holds the CLI's count.
    const rows = await page.locator("figure:has(#plot-sizes) details tbody tr").evaluateAll((trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
    const mine = rows.filter((r) => r[0] === audience);
    if (!mine.length) throw new Error(`no size row for ${audience}`);
    expectEqual(Number(mine[mine.length - 1][4].replace(/,/g, "")), expected, "last size in the table");
    // One bar per store batch, and the rows read add up to the CLI's batch list.
    const bars = await page.locator("svg#plot-rows rect").count();
    expectEqual(bars, cliBatches.length, "bars in the rows-per-batch plot (store batches)");
    const read = await page.locator("figure:has(#plot-rows) details tbody tr td:nth-child(5)").allTextContents();
    const cliRead = cliBatches.reduce((s, b) => s + b.rows_read, 0);
    expectEqual(read.reduce((s, t) => s + Number(t.replace(/,/g, "")), 0), cliRead, "rows read over all batches");
    // The count cards: people, accounts and opportunities as the CLI counted them.
    for (const entity of ["person", "account", "opportunity"]) {
      const card = page.locator(".card", { has: page.getByText(`${entity} profiles`, { exact: true }) }).locator(".big");
      expectEqual(Number((await card.textContent()).replace(/,/g, "")), cliStatus.profiles[entity] || 0, `${entity} profiles card`);
    }
    const axis = await page.locator("svg#plot-rows text.label").allTextContents();
    expectEqual(axis.join("|"), "Time (UTC)|Rows", "axis labels");
    await shot("08-home-plots");
  });

  await step("the Sources page lists datasets, their batches with counts and rejected rows, and dataflows", async () => {
    await page.getByRole("link", { name: "Sources" }).click();
    await page.getByRole("heading", { name: "Sources", level: 1 }).waitFor();
    // The connectors: every dataset the CLI loaded from the exports is one of their tables.
    await page.locator("section[aria-labelledby=connectors-h] tbody tr").first().waitFor({ timeout: 30000 });
    const connectorDatasets = await page.locator("section[aria-labelledby=connectors-h] tbody tr td:nth-child(4)").allTextContents();
    for (const b of cliBatches) {
      if (!connectorDatasets.some((d) => d.startsWith(b.dataset))) throw new Error(`no connector table stores ${b.dataset} (${connectorDatasets.join(", ")})`);
    }
    // The dataset with the most batches in the CLI's list.
    const byDataset = new Map();
    for (const b of cliBatches) byDataset.set(b.dataset, [...(byDataset.get(b.dataset) || []), b]);
    const rejectedOne = cliBatches.find((b) => b.rows_rejected > 0);
    const name = rejectedOne ? rejectedOne.dataset : [...byDataset.keys()][0];
    const want = byDataset.get(name);
    await page.getByRole("button", { name: `Batches of ${name}`, exact: true }).click();
    const panel = page.getByTestId("dataset-batches");
    await panel.waitFor({ timeout: 30000 });
    const cells = await panel.locator("tbody tr").evaluateAll((trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
    expectEqual(cells.length, want.length, `batches of ${name}`);
    const num = (t) => Number(t.replace(/,/g, ""));
    expectEqual(JSON.stringify(cells.map((c) => [num(c[0]), c[1], num(c[4]), num(c[5]), num(c[6])])),
      JSON.stringify(want.map((b) => [b.id, b.state, b.rows_read, b.rows_ingested, b.rows_rejected])), `batch counts of ${name}`);
    if (rejectedOne) {
      // The earliest batch of the dataset with rejected rows: the first button with its count is its own.
      const first = want.find((b) => b.rows_rejected > 0);
      await panel.getByRole("button", { name: `Show ${first.rows_rejected.toLocaleString("en-US")}`, exact: true }).first().click();
      const rejected = panel.getByTestId("rejected-rows");
      await rejected.waitFor();
      await rejected.getByRole("heading", { name: `Rejected rows of batch ${first.id}` }).waitFor();
      const shown = await rejected.locator("tbody tr").count();
      expectEqual(shown, Math.min(50, first.rows_rejected), "rejected rows shown");
      const line = await rejected.locator("tbody tr td:nth-child(2)").first().textContent();
      if (!(Number(line) >= 2)) throw new Error(`rejected row line ${line} is not a data line`);
    }
    await page.getByRole("heading", { name: "Dataflows" }).waitFor();
    await shot("09-sources");
  });

  await step("the Schemas page shows identities and relationships; a marketer is not offered schema generation", async () => {
    await page.getByRole("link", { name: "Schemas" }).click();
    await page.getByRole("heading", { name: "Schemas", level: 1 }).waitFor();
    const person = page.locator("section[data-testid=schema]", { has: page.getByRole("heading", { name: "B2B Person", exact: true }) });
    await person.waitFor({ timeout: 30000 });
    const kinds = await person.locator("table").first().locator("tbody tr td:nth-child(3)").allTextContents();
    expectEqual(kinds.filter((k) => k === "primary").length, 1, "primary identities of B2B Person");
    const rels = await person.locator("table").nth(1).locator("tbody tr").count();
    if (rels < 1) throw new Error("B2B Person shows no relationship");
    // A marketer is not offered the generation (GET /auth/me), and is told what it needs.
    expectEqual(await page.getByRole("button", { name: "Generate B2B schemas" }).count(), 0, "generate buttons for a marketer");
    expectEqual(await page.getByTestId("generate-help").textContent(),
      "Generating the B2B schemas needs an engineer or admin token (this one is marketer).", "generation note");
    await shot("10-schemas");
  });

  await step("the console is usable on a phone-sized screen", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.getByRole("link", { name: "Home" }).click();
    await page.getByRole("heading", { name: "Home", level: 1 }).waitFor();
    await page.getByRole("link", { name: audience }).waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    if (overflow > 1) throw new Error(`the page is ${overflow}px wider than the screen`);
    await shot("07-home-narrow");
    for (const [hash, name] of [["#/audiences/new", "New audience"], ["#/sources", "Sources"], ["#/schemas", "Schemas"]]) {
      await page.evaluate((h) => { location.hash = h; }, hash);
      await page.getByRole("heading", { name, level: 1 }).waitFor();
      await page.waitForLoadState("networkidle");
      const wide = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      if (wide > 1) throw new Error(`${name} is ${wide}px wider than the screen`);
      await shot(`11-narrow-${hash.replace(/[^a-z]+/g, "-").replace(/^-|-$/g, "")}`);
    }
  });

  await step("no script error and no request outside the server", async () => {
    if (consoleErrors.length) throw new Error(`console errors: ${consoleErrors.join(" | ")}`);
    if (foreign.length) throw new Error(`requests outside the server: ${foreign.join(", ")}`);
  });
} catch (err) {
  await shot("failure").catch(() => {});
} finally {
  await context.close();
  fs.rmSync(userData, { recursive: true, force: true });
}
// The plain closing line CI reads.
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
