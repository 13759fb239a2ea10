// The Live query page in a real browser: SQL typed in the editor survives navigating away,
// the query runs on simulated hosts, their rows arrive in the campaign page's refreshing
// region without a reload, the campaign reopens by its URL, and its CSV export holds every
// host's rows. Every page through visit/act, so the CSP, console and axe checks apply.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";

import { act, assertAllChecked, checkPage, launch, newContext, newPage, notes, visit } from "./lib/browser.mjs";
import { answerLiveQuery, enrollHosts } from "./lib/hosts.mjs";
import { startServer } from "./lib/server.mjs";
import { setUpFirstAdmin } from "./lib/session.mjs";

let server;
let browser;
let context;

before(async () => {
  server = await startServer();
  browser = await launch();
  context = await newContext(browser, server, { acceptDownloads: true });
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

test("a live query from the editor to its export", async (t) => {
  const page = await newPage(context);
  await setUpFirstAdmin(page, server);
  const hosts = await enrollHosts(server, 3, { prefix: "live" });

  // The draft survives leaving the page.
  await visit(page, "/live", "live-form");
  const sql = "SELECT name, version FROM os_version";
  await page.getByLabel("SQL").fill(sql);
  await act(page, () => page.locator("nav[aria-label=Main]").getByRole("link", { name: "Queries" }).click(), "live-away");
  await act(page, () => page.locator("nav[aria-label=Main]").getByRole("link", { name: "Live query" }).click(), "live-form-again");
  assert.equal(await page.getByLabel("SQL").inputValue(), sql);

  await page.getByLabel("All hosts", { exact: true }).check();
  await act(page, () => page.getByRole("button", { name: "Run", exact: true }).click(), "live-campaign-running");
  const id = Number(new URL(page.url()).pathname.match(/^\/live\/(\d+)$/)?.[1]);
  assert.ok(id > 0, `a campaign's page: ${page.url()}`);
  assert.equal(await page.locator("#live-progress").getAttribute("data-done"), null, "running: it refreshes");

  // The hosts answer; the rows arrive in the region while the page stays the same document.
  await page.evaluate(() => { window.__sameDocument = true; });
  await answerLiveQuery(hosts, (host) => [{ name: "Ubuntu", version: `${host.hostname}-answer` }], {
    until: (name) => name === `fleet_distributed_query_${id}`,
  });
  const region = page.locator("#live-progress");
  for (const host of hosts) {
    await region.getByText(`${host.hostname}-answer`).waitFor({ timeout: 20_000 });
  }
  await region.getByText("3 Answered").waitFor({ timeout: 10_000 });
  assert.equal(await page.evaluate(() => window.__sameDocument), true, "no reload");
  await checkPage(page, "live-campaign-answered");

  // Reopened by its address in a new page.
  const again = await newPage(context);
  await visit(again, `/live/${id}`, "live-campaign-reopened");
  for (const host of hosts) {
    assert.equal(await again.getByRole("rowheader", { name: host.hostname }).count(), 1);
    assert.equal(await again.getByRole("cell", { name: `${host.hostname}-answer` }).count(), 1);
  }

  // The CSV export holds every host's row.
  await again.getByLabel("Format").selectOption("csv");
  await act(again, () => again.getByRole("button", { name: "Export every row" }).click(), "live-export-asked");
  const link = again.getByRole("link", { name: `Download campaign-${id}.csv` });
  await link.waitFor({ timeout: 30_000 });
  const [download] = await Promise.all([again.waitForEvent("download"), link.click()]);
  const csv = readFileSync(await download.path(), "utf8");
  const lines = csv.trim().split(/\r?\n/);
  assert.equal(lines[0], "host_id,hostname,name,version");
  assert.deepEqual(
    lines.slice(1).map((l) => l.split(",").slice(1).join(",")).sort(),
    hosts.map((h) => `${h.hostname},Ubuntu,${h.hostname}-answer`).sort(),
  );
  await checkPage(again, "live-export-ready");

  // Stopped: the region stops refreshing.
  again.once("dialog", (dialog) => dialog.accept());
  await act(again, () => again.getByRole("button", { name: "Stop" }).click(), "live-campaign-stopped");
  assert.equal(await again.locator("#live-progress").getAttribute("data-done"), "");
  await again.getByText("Status: Stopped").waitFor();

  // The recent list links to it.
  await visit(page, "/live", "live-recent");
  assert.equal(await page.getByRole("link", { name: `Live query ${id}` }).count(), 1);

  assertAllChecked(page);
  assertAllChecked(again);
  for (const note of notes) t.diagnostic(note);
});
