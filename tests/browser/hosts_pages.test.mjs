// The Hosts pages in a browser: search and a team filter through the form, cursor pages of a
// small size followed to the end, the CSV downloaded through its link and checked against the
// API, a host's page and its refetch (the simulated host is handed the detail queries), and
// a bulk delete of checked hosts through the count confirmation.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";

import { act, assertAllChecked, launch, newContext, newPage, visit } from "./lib/browser.mjs";
import { enrollHosts } from "./lib/hosts.mjs";
import { startServer } from "./lib/server.mjs";
import { ADMIN, setUpFirstAdmin } from "./lib/session.mjs";

let server;
let browser;
let page;
let fleet;
let lab;
let labTeam;

before(async () => {
  server = await startServer();
  browser = await launch();
  const context = await newContext(browser, server);
  page = await newPage(context);
  await setUpFirstAdmin(page, server, ADMIN, "hosts-setup");
  fleet = await enrollHosts(server, 7, { prefix: "fleet" });
  lab = await enrollHosts(server, 3, { prefix: "lab" });
  const team = await server.api("POST", "/api/v1/fleet/teams", { name: "Lab" });
  assert.equal(team.status, 200, JSON.stringify(team.body));
  labTeam = team.body.team.id;
  const listed = await server.api("GET", "/api/v1/fleet/hosts?query=lab&per_page=500");
  const moved = await server.api("POST", "/api/v1/fleet/hosts/transfer", {
    team_id: labTeam,
    hosts: listed.body.hosts.map((h) => h.id),
  });
  assert.equal(moved.status, 200, JSON.stringify(moved.body));
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/// The host names the list shows, in order.
async function rowNames() {
  return page.locator("tbody tr td a[href^='/hosts/']").allTextContents();
}

/// The ids in a hosts listing of the API (every page).
async function apiIds(query) {
  const ids = [];
  let after = null;
  for (;;) {
    const path = `/api/v1/fleet/hosts?${query}&per_page=500${after ? `&after=${after}` : ""}`;
    const { status, body } = await server.api("GET", path);
    assert.equal(status, 200, JSON.stringify(body));
    ids.push(...body.hosts.map((h) => h.id));
    if (!body.next_cursor) return ids.sort((a, b) => a - b);
    after = body.next_cursor;
  }
}

test("search and a team filter through the form", async () => {
  await visit(page, "/hosts", "hosts-list");
  assert.match(await page.locator("p.count").textContent(), /10 hosts match/);
  assert.equal(await page.getByRole("link", { name: "Hosts", exact: true }).getAttribute("aria-current"), "page");

  await page.getByLabel("Search", { exact: true }).fill("fleet");
  await act(page, () => page.getByRole("button", { name: "Show hosts" }).click(), "hosts-search");
  assert.equal(new URL(page.url()).searchParams.get("query"), "fleet");
  assert.deepEqual((await rowNames()).sort(), fleet.map((h) => h.hostname).sort());

  await page.getByLabel("Search", { exact: true }).fill("");
  await page.getByLabel("Team", { exact: true }).selectOption({ label: "Lab" });
  await act(page, () => page.getByRole("button", { name: "Show hosts" }).click(), "hosts-team-filter");
  assert.equal(new URL(page.url()).searchParams.get("team_id"), String(labTeam));
  assert.deepEqual((await rowNames()).sort(), lab.map((h) => h.hostname).sort());
  assert.match(await page.locator("p.count").textContent(), /3 hosts match/);
});

test("pages of three, sorted by name, followed to the end", async () => {
  await visit(page, "/hosts?query=fleet&per_page=3", "hosts-page-1");
  await act(page, () => page.getByRole("link", { name: /^Host name/ }).click(), "hosts-sorted");
  assert.equal(new URL(page.url()).searchParams.get("order_key"), "hostname");
  const seen = [...(await rowNames())];
  for (let n = 2; n < 10; n++) {
    const next = page.getByRole("link", { name: "Next page" });
    if ((await next.count()) === 0) break;
    await act(page, () => next.click(), `hosts-page-${n}`);
    assert.ok(new URL(page.url()).searchParams.get("after"), "the cursor is in the URL");
    seen.push(...(await rowNames()));
  }
  assert.deepEqual(seen, fleet.map((h) => h.hostname).sort(), "each host once, in name order");
  await act(page, () => page.getByRole("link", { name: "First page" }).click(), "hosts-first-page");
  assert.equal(new URL(page.url()).searchParams.get("after"), null);
  assert.equal(new URL(page.url()).searchParams.get("per_page"), "3");
});

test("the CSV link downloads the hosts the filter matches", async () => {
  await visit(page, `/hosts?team_id=${labTeam}&per_page=2`, "hosts-csv");
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.getByRole("link", { name: "Download CSV" }).click(),
  ]);
  const text = readFileSync(await download.path(), "utf8");
  const lines = text.trim().split("\n");
  assert.match(lines[0], /^id,hostname,/);
  const ids = lines.slice(1).map((line) => Number(line.split(",")[0])).sort((a, b) => a - b);
  assert.deepEqual(ids, await apiIds(`team_id=${labTeam}`));
  assert.equal(ids.length, 3, "every matching host, not only the page's two");
});

test("a host's page shows its vitals, and its refetch reaches the host", async () => {
  const host = fleet[0];
  await visit(page, "/hosts?query=fleet-1", "hosts-one");
  await act(page, () => page.getByRole("link", { name: host.hostname, exact: true }).click(), "host-page");
  assert.equal((await page.locator("h1").textContent()).trim(), host.hostname);
  const facts = await page.locator("dl.facts").textContent();
  for (const text of ["192.0.2.7", "08:00:27:aa:bb:cc", "Xeon", "5.12.1", "Online", "No team"]) {
    assert.ok(facts.includes(text), `${text} in ${facts}`);
  }
  assert.match(await page.locator("pre.options").textContent(), /"distributed_interval": 10/);
  assert.equal(await page.locator("pre.options").getAttribute("tabindex"), "0");

  assert.deepEqual(await host.read(), {}, "fresh vitals: no detail queries");
  await act(page, () => page.getByRole("button", { name: "Refetch vitals" }).click(), "host-refetched");
  assert.match(await page.locator("p.notice").textContent(), /fresh vitals at its next check-in/);
  let queries = {};
  for (let i = 0; i < 20 && !Object.keys(queries).some((n) => n.startsWith("fleet_detail_query_")); i++) {
    queries = await host.read();
    if (Object.keys(queries).length === 0) await new Promise((ok) => setTimeout(ok, 250));
  }
  assert.ok(Object.keys(queries).some((n) => n.startsWith("fleet_detail_query_")), JSON.stringify(queries));
});

test("a bulk delete of checked hosts states the count before it acts", async () => {
  await visit(page, `/hosts?team_id=${labTeam}`, "hosts-bulk");
  const [first, second] = lab;
  await page.getByLabel(`Select ${first.hostname}`).check();
  await page.getByLabel(`Select ${second.hostname}`).check();
  await act(page, () => page.getByRole("button", { name: "Delete…" }).click(), "hosts-bulk-confirm");
  assert.equal((await page.locator("h1").textContent()).trim(), "Delete 2 hosts?");
  assert.equal((await apiIds(`team_id=${labTeam}`)).length, 3, "nothing deleted yet");
  await act(page, () => page.getByRole("button", { name: "Delete 2 hosts" }).click(), "hosts-bulk-done");
  assert.equal(new URL(page.url()).pathname, "/hosts");
  assert.match(await page.locator("p.notice").textContent(), /2 hosts deleted/);
  assert.equal((await apiIds(`team_id=${labTeam}`)).length, 1);
  assertAllChecked(page);
});
