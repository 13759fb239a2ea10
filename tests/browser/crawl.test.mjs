// Every page an admin and an observer can reach, through the page checks; the keyboard's
// way in; and forms posted by someone who may not, or from another site.

import assert from "node:assert/strict";
import { createServer } from "node:http";
import { after, before, test } from "node:test";

import { assertAllChecked, checkPage, launch, newContext, newPage, notes, visit } from "./lib/browser.mjs";
import { crawl } from "./lib/crawl.mjs";
import { enrollHosts } from "./lib/hosts.mjs";
import { startServer } from "./lib/server.mjs";
import { ADMIN, setUpFirstAdmin, signIn } from "./lib/session.mjs";

/// Navigation entries whose pages other branches are still writing: a 404 there is noted,
/// not failed. Remove a path once its page is merged (the crawl says when it exists).
const PENDING = [];

const OBSERVER = {
  name: "Olive Observer",
  email: "olive@example.com",
  password: "observer password 3!",
};

let server;
let browser;
let admin; // { context, page }
let observer;
let adminCrawl;
let observerCrawl;

before(async () => {
  server = await startServer();
  browser = await launch();
  const context = await newContext(browser, server);
  admin = { context, page: await newPage(context) };
  await setUpFirstAdmin(admin.page, server, ADMIN, "crawl-setup");
  await seed(server);
  await server.createUser({ ...OBSERVER, globalRole: "observer" });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/// Something on every page: hosts with vitals, a team, saved queries, a finished carve.
async function seed(server) {
  const hosts = await enrollHosts(server, 3);
  const team = await server.api("POST", "/api/v1/fleet/teams", { name: "Browser team" });
  assert.equal(team.status, 200, JSON.stringify(team.body));
  for (const [name, teamId] of [["Global uptime", null], ["Team uptime", team.body.team.id]]) {
    const query = await server.api("POST", "/api/v1/fleet/queries", {
      name,
      query: "SELECT * FROM uptime",
      interval: 3600,
      team_id: teamId,
      observer_can_run: true,
    });
    assert.equal(query.status, 200, JSON.stringify(query.body));
  }
  await hosts[0].carve(Buffer.from("a small file to carve\n".repeat(100)));
}

function report(t, result) {
  t.diagnostic(`visited ${result.visited.length} pages: ${result.visited.map((v) => new URL(v.url).pathname + new URL(v.url).search).join(" ")}`);
  if (result.pendingMissing.length) t.diagnostic(`pending (404 for now): ${result.pendingMissing.join(" ")}`);
}

test("crawl as the admin: every navigation page and the pages they link to pass the checks", async (t) => {
  adminCrawl = await crawl(admin.page, server.origin, { who: "admin", pending: PENDING, log: (m) => t.diagnostic(m) });
  report(t, adminCrawl);
  assert.deepEqual(adminCrawl.failures, [], adminCrawl.failures.join("\n\n"));
  assert.ok(adminCrawl.navPaths.includes("/"), `navigation: ${adminCrawl.navPaths}`);
  for (const path of ["/users", "/settings", "/activity"]) {
    assert.ok(adminCrawl.navPaths.includes(path), `the admin's navigation has ${path}: ${adminCrawl.navPaths}`);
  }
  assert.ok(adminCrawl.visited.some((v) => new URL(v.url).pathname === "/account"), "the account page was crawled");
  assertAllChecked(admin.page);
});

test("keyboard: Tab reaches the skip link first, then the main navigation, with a visible focus ring", async () => {
  const page = admin.page;
  await visit(page, "/", "keyboard-dashboard");
  await page.keyboard.press("Tab");
  const first = await page.evaluate(() => {
    const el = document.activeElement;
    const style = getComputedStyle(el);
    const box = el.getBoundingClientRect();
    return {
      cls: el.className,
      text: el.textContent.trim(),
      href: el.getAttribute("href"),
      outline: style.outlineStyle,
      width: parseFloat(style.outlineWidth),
      onScreen: box.left >= 0 && box.top >= 0 && box.width > 0,
    };
  });
  assert.equal(first.cls, "skip", `the first Tab stop: ${JSON.stringify(first)}`);
  assert.equal(first.href, "#main");
  assert.notEqual(first.outline, "none", "the skip link shows its focus");
  assert.ok(first.width >= 2, `outline width ${first.width}`);
  assert.ok(first.onScreen, "the focused skip link is on screen");

  let inNav = null;
  for (let i = 0; i < 5 && !inNav; i++) {
    await page.keyboard.press("Tab");
    inNav = await page.evaluate(() => {
      const el = document.activeElement;
      if (!el.closest("nav[aria-label=Main]")) return null;
      const style = getComputedStyle(el);
      return { text: el.textContent.trim(), outline: style.outlineStyle, width: parseFloat(style.outlineWidth) };
    });
  }
  assert.ok(inNav, "Tab reaches the main navigation within a few stops");
  assert.notEqual(inNav.outline, "none", `a focused navigation link shows its focus: ${JSON.stringify(inNav)}`);

  // The skip link moves focus to the content.
  await visit(page, "/", "keyboard-dashboard-again");
  await page.keyboard.press("Tab");
  await page.keyboard.press("Enter");
  assert.equal(await page.evaluate(() => document.activeElement.id), "main");
  assertAllChecked(page);
});

test("crawl as an observer: no Users, and every page passes the checks", async (t) => {
  const context = await newContext(browser, server);
  observer = { context, page: await newPage(context) };
  await signIn(observer.page, OBSERVER, "observer-sign-in");
  observerCrawl = await crawl(observer.page, server.origin, { who: "observer", pending: PENDING, log: (m) => t.diagnostic(m) });
  report(t, observerCrawl);
  assert.deepEqual(observerCrawl.failures, [], observerCrawl.failures.join("\n\n"));
  // Settings stays listed: an observer may read the organization's settings (not change them).
  // Activity stays listed too: a global observer may read the activity log (Fleet does the same).
  for (const path of ["/users"]) {
    assert.ok(
      !observerCrawl.navPaths.includes(path),
      `an observer's navigation lists ${path} (an admin's page): ${observerCrawl.navPaths.join(" ")}`,
    );
  }
  assertAllChecked(observer.page);
});

/// The page's CSRF token (every signed-in page has the sign-out form).
async function csrfOf(page) {
  return page.locator("header.top form[action='/logout'] input[name=csrf_token]").getAttribute("value");
}

test("an observer posting the admin's forms, or a form with a wrong CSRF token, is refused 403", async (t) => {
  assert.ok(adminCrawl && observerCrawl, "both crawls ran");
  const page = observer.page;
  await visit(page, "/account", "observer-forged-start");
  const csrf = await csrfOf(page);
  assert.ok(csrf);
  const post = (action, fields) =>
    page.request.post(action, {
      form: Object.fromEntries(fields),
      headers: { origin: server.origin },
      maxRedirects: 0,
    });

  // The control: the observer's own form, with its token and our Origin, reaches the page
  // (the two new passwords differ: 400 from the page, not 403 from the CSRF check).
  const control = await post(server.url("/account/password"), [
    ["csrf_token", csrf],
    ["old_password", OBSERVER.password],
    ["new_password", "one new password 4!"],
    ["new_password_confirmation", "another new password 5!"],
  ]);
  assert.equal(control.status(), 400, "the control request passes authorization");

  // The same form with a wrong CSRF token, and without one.
  for (const token of ["not-the-token", null]) {
    const fields = [
      ["old_password", OBSERVER.password],
      ["new_password", "one new password 4!"],
      ["new_password_confirmation", "one new password 4!"],
    ];
    if (token) fields.push(["csrf_token", token]);
    const refused = await post(server.url("/account/password"), fields);
    assert.equal(refused.status(), 403, `CSRF token ${token ?? "missing"}`);
  }

  // Every state-changing form the admin saw that the observer's pages do not have.
  const observerActions = new Set(observerCrawl.forms.filter((f) => f.method === "post").map((f) => f.action));
  const adminOnly = new Map();
  for (const form of adminCrawl.forms) {
    if (form.method === "post" && !observerActions.has(form.action) && !adminOnly.has(form.action)) {
      adminOnly.set(form.action, form);
    }
  }
  t.diagnostic(`admin-only forms: ${[...adminOnly.keys()].map((a) => new URL(a).pathname).join(" ") || "none yet"}`);
  for (const form of adminOnly.values()) {
    const fields = form.fields.map(([k, v]) => (k === "csrf_token" ? [k, csrf] : [k, v]));
    if (!fields.some(([k]) => k === "csrf_token")) fields.push(["csrf_token", csrf]);
    const refused = await post(form.action, fields);
    assert.equal(refused.status(), 403, `observer POST ${form.action} (form on ${form.page})`);
  }

  // The observer is still signed in.
  await visit(page, "/account", "observer-forged-after");
  assert.equal(new URL(page.url()).pathname, "/account");
  assertAllChecked(page);
});

test("a form posted from another origin is refused by the CSRF check (403)", async (t) => {
  const page = admin.page;
  await visit(page, "/account", "cross-site-start");
  const leaked = await csrfOf(page);
  // Another origin on the same host (another port): the same site, so the Lax session
  // cookie goes along, and only the Origin check stands between that page and ours.
  const forms = {
    "/logout-no-token": { action: "/logout", fields: {} },
    "/logout-leaked-token": { action: "/logout", fields: { csrf_token: leaked } },
    "/password-leaked-token": {
      action: "/account/password",
      fields: {
        csrf_token: leaked,
        old_password: ADMIN.password,
        new_password: "attacker password 6!",
        new_password_confirmation: "attacker password 6!",
      },
    },
  };
  const evil = createServer((req, res) => {
    const form = forms[req.url];
    if (!form) {
      res.writeHead(404).end();
      return;
    }
    const inputs = Object.entries(form.fields)
      .map(([k, v]) => `<input type="hidden" name="${k}" value="${v}">`)
      .join("");
    res.writeHead(200, { "content-type": "text/html" });
    res.end(`<!doctype html><title>win a prize</title>
      <form method="post" action="${server.origin}${form.action}">${inputs}<button>go</button></form>
      <script>document.forms[0].submit()</script>`);
  });
  await new Promise((ok) => evil.listen(0, "127.0.0.1", ok));
  const evilOrigin = `http://127.0.0.1:${evil.address().port}`;
  try {
    for (const [path, form] of Object.entries(forms)) {
      const target = server.url(form.action);
      const [response] = await Promise.all([
        page.waitForResponse((r) => r.url() === target && r.request().method() === "POST"),
        // The other page submits its form at once, which may interrupt this navigation.
        page.goto(`${evilOrigin}${path}`, { waitUntil: "commit" }).catch((err) => {
          if (!/interrupted|aborted/i.test(err.message)) throw err;
        }),
      ]);
      const sent = await response.request().allHeaders();
      assert.equal(sent.origin, evilOrigin, "the browser named the other origin");
      assert.match(sent.cookie || "", /__Host-flotilla_session=/, "the session cookie went along");
      assert.equal(response.status(), 403, `${path}: cross-site POST ${form.action}`);
      await page.waitForURL(target);
      await checkPage(page, `cross-site-refused${path}`, { response, expectStatus: 403 });
      t.diagnostic(`${path}: ${response.status()}`);
    }
  } finally {
    await new Promise((ok) => evil.close(ok));
  }
  // Still signed in, with the same password.
  await visit(page, "/account", "cross-site-after");
  assert.equal(new URL(page.url()).pathname, "/account");
  const check = await server.api("POST", "/api/v1/fleet/login", { email: ADMIN.email, password: ADMIN.password }, { token: null });
  assert.equal(check.status, 200, "the admin's password is unchanged");
});

test("axe notes below serious", (t) => {
  for (const note of notes) t.diagnostic(note);
});
