// Drives the Rapport console in headless Debian Chromium: sign in with a token, build the Bodea audience in the
// builder (a parse error first, shown in place; then the estimate, compared with the count computed by the
// CLI), save it, activate it to a new file destination (the file's data rows counted from disk), and look up one
// of its members. Any mismatch throws: the script exits non-zero and says what differed.
//
// Environment (run.sh sets it): RAPPORT_URL, RAPPORT_TOKEN, RAPPORT_PQL, RAPPORT_EXPECTED (the CLI's count),
// RAPPORT_DEST_DIR (an empty folder for the file destination), ARTIFACTS (screenshots).

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
    await shot("06-activation");
  });

  await step("the console is usable on a phone-sized screen", async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    await page.getByRole("link", { name: "Home" }).click();
    await page.getByRole("heading", { name: "Home", level: 1 }).waitFor();
    await page.getByRole("link", { name: audience }).waitFor();
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    if (overflow > 1) throw new Error(`the page is ${overflow}px wider than the screen`);
    await shot("07-home-narrow");
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
