// The console's entry: sign-in with a token, the hash router, and the pages (each page module renders into
// <main> through ui.page and reads the REST API through api.js).

import * as api from "/console/api.js";
import { h, page, announce, field, errorBox } from "/console/ui.js";
import { audiencesPage, builderPage, audiencePage } from "/console/audiences.js";
import { profilesPage } from "/console/profiles.js";
import { destinationsPage } from "/console/destinations.js";
import { homePage } from "/console/home.js";
import { schemasPage } from "/console/schemas.js";
import { sourcesPage } from "/console/sources.js";

const routes = [
  [/^#\/home$/, () => homePage()],
  [/^#\/audiences$/, () => audiencesPage()],
  [/^#\/audiences\/new$/, () => builderPage()],
  [/^#\/audiences\/([^/]+)$/, (m) => audiencePage(decodeURIComponent(m[1]))],
  [/^#\/profiles(?:\?(.*))?$/, (m) => profilesPage(new URLSearchParams(m[1] || ""))],
  [/^#\/destinations$/, () => destinationsPage()],
  [/^#\/sources$/, () => sourcesPage()],
  [/^#\/schemas$/, () => schemasPage()],
];

function loginPage(message) {
  document.getElementById("logout").hidden = true;
  const input = h("input", { type: "password", autocomplete: "off", required: true, spellcheck: "false" });
  const status = h("p", { class: "error", role: "alert" }, message || "");
  const form = h("form", { class: "panel login", "aria-labelledby": "page-title" },
    field("token", "API token", input, "Create one with `rapport token create --name NAME --role marketer`. It is kept in this tab only."),
    h("p", {}, h("button", { type: "submit" }, "Sign in")),
    status);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    api.setToken(input.value.trim());
    try {
      // Any authenticated read tells whether the token is good.
      await api.get("/segment/definitions?limit=1", { quiet401: true });
      announce("Signed in");
      if (!location.hash || location.hash === "#/login") location.hash = "#/audiences";
      else route();
    } catch (err) {
      api.setToken(null);
      status.textContent = err.status === 401 ? "That token was not accepted." : err.message;
      input.focus();
    }
  });
  page("Sign in", form);
  input.focus();
}

async function route() {
  if (!api.token()) return loginPage();
  document.getElementById("logout").hidden = false;
  const hash = location.hash || "#/home";
  for (const a of document.querySelectorAll("#nav a")) {
    const target = a.getAttribute("href");
    if (hash === target || hash.startsWith(target + "/") || hash.startsWith(target + "?")) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  for (const [re, render] of routes) {
    const m = hash.match(re);
    if (m) {
      try {
        await render(m);
      } catch (err) {
        if (err.status === 401) return;
        page("Something went wrong", errorBox(err));
      }
      return;
    }
  }
  page("Not found", h("p", {}, "No page here. ", h("a", { href: "#/home" }, "Go home")));
}

window.addEventListener("hashchange", route);
window.addEventListener("rapport:unauthorized", () => {
  api.setToken(null);
  loginPage("Your token was refused (expired or revoked). Sign in again.");
});
document.getElementById("logout").addEventListener("click", () => {
  api.setToken(null);
  loginPage();
});
route();
