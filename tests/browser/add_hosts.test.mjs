// Add hosts and agent options in a real browser: a .deb built through the page from a TUF
// repository on loopback (written by python-tuf, served by this test), its stages followed
// live to the download button, the file downloaded and read by dpkg-deb; then the global
// agent options with a mistake (the message names its line and key), fixed, reviewed, saved.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join, normalize, resolve } from "node:path";
import { after, before, test } from "node:test";

import { act, assertAllChecked, checkPage, launch, newContext, newPage, visit } from "./lib/browser.mjs";
import { REPO, startServer } from "./lib/server.mjs";
import { setUpFirstAdmin } from "./lib/session.mjs";

const PYTHON = join(REPO, ".venv", "bin", "python");

let work;
let repoServer;
let server;
let browser;
let context;
let page;

/// The three targets a Linux .deb needs, in a python-tuf repository under `dir/repo`.
function tufRepository(dir) {
  const files = join(dir, "files");
  mkdirSync(join(files, "fleet-desktop"), { recursive: true });
  writeFileSync(join(files, "orbit"), "#!/bin/sh\necho orbit for linux\n");
  writeFileSync(join(files, "osqueryd"), Buffer.alloc(200_000, 7));
  writeFileSync(join(files, "fleet-desktop", "fleet-desktop"), "#!/bin/sh\n");
  execFileSync("tar", ["-czf", join(files, "desktop.tar.gz"), "-C", files, "fleet-desktop"]);
  const out = join(dir, "repo");
  execFileSync(PYTHON, [
    join(REPO, "agent", "tests", "tuf_repo.py"),
    out,
    "orbit/linux/stable/orbit",
    join(files, "orbit"),
    "1.38.0",
    "osqueryd/linux/stable/osqueryd",
    join(files, "osqueryd"),
    "5.12.1",
    "desktop/linux/stable/desktop.tar.gz",
    join(files, "desktop.tar.gz"),
    "-",
  ]);
  return out;
}

/// A static file server for `root` on a loopback port (what a TUF mirror is).
function serveFiles(root) {
  const http = createServer((request, response) => {
    const path = normalize(decodeURIComponent(new URL(request.url, "http://x").pathname));
    const file = resolve(root, `.${path}`);
    if (!file.startsWith(root)) {
      response.writeHead(403).end();
      return;
    }
    try {
      const body = readFileSync(file);
      response.writeHead(200, { "content-length": body.length }).end(body);
    } catch {
      response.writeHead(404).end();
    }
  });
  return new Promise((ok) => http.listen(0, "127.0.0.1", () => ok(http)));
}

before(async () => {
  work = mkdtempSync(join(tmpdir(), "flotilla-add-hosts-"));
  const repo = tufRepository(work);
  repoServer = await serveFiles(repo);
  server = await startServer({
    args: [
      "--packager-update-url",
      `http://127.0.0.1:${repoServer.address().port}`,
      "--packager-update-root",
      join(repo, "root.json"),
    ],
  });
  browser = await launch();
  context = await newContext(browser, server, { acceptDownloads: true });
  page = await newPage(context);
  await setUpFirstAdmin(page, server, undefined, "add-hosts-setup");
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await new Promise((ok) => (repoServer ? repoServer.close(ok) : ok()));
  if (work) rmSync(work, { recursive: true, force: true });
});

test("a .deb built through Add hosts: stages shown live, downloaded, read by dpkg-deb", async () => {
  await visit(page, "/add-hosts", "add-hosts");
  await act(page, () => page.getByRole("link", { name: "Linux (.deb)" }).click(), "add-hosts-deb");
  await act(page, () => page.getByRole("button", { name: /^Build .* installer$/ }).click(), "add-hosts-build");
  assert.match(new URL(page.url()).pathname, /^\/add-hosts\/builds\/[^/]+$/);
  const progress = page.locator("#build-progress");

  // The stages are listed, and the region changes by itself (no navigation) until the
  // download button appears.
  const stages = await progress.locator("ol.stages li").allTextContents();
  assert.ok(stages.length >= 3, `stages: ${stages}`);
  assert.ok(stages.some((s) => /fetch/i.test(s)), `stages: ${stages}`);
  const urlBefore = page.url();
  const download = progress.getByRole("link", { name: /^Download .*\.deb$/ });
  await download.waitFor({ timeout: 120_000 });
  assert.equal(page.url(), urlBefore, "the progress came in without a reload");
  assert.equal(await progress.locator("li.stage-done").count(), stages.length);
  await checkPage(page, "add-hosts-build-done");

  const [file] = await Promise.all([page.waitForEvent("download"), download.click()]);
  assert.match(file.suggestedFilename(), /\.deb$/);
  const deb = join(work, file.suggestedFilename());
  await file.saveAs(deb);

  const info = execFileSync("dpkg-deb", ["--info", deb], { encoding: "utf8" });
  assert.match(info, /Version: 1\.38\.0/);
  const contents = execFileSync("dpkg-deb", ["--contents", deb], { encoding: "utf8" });
  assert.ok(contents.includes(" ./etc/default/orbit\n") || contents.includes(" etc/default/orbit\n"), contents);
  assert.match(contents, /osqueryd/);
  // The settings orbit starts with: this server, the repository, the global enroll secret (no
  // team was chosen).
  const unpacked = join(work, "unpacked");
  execFileSync("dpkg-deb", ["-x", deb, unpacked]);
  const env = readFileSync(join(unpacked, "etc", "default", "orbit"), "utf8");
  assert.ok(env.includes(`ORBIT_ENROLL_SECRET=${server.enrollSecret}`), env);
  assert.ok(env.includes(`ORBIT_FLEET_URL=${server.origin}`), env);
  assert.ok(env.includes(`ORBIT_UPDATE_URL=http://127.0.0.1:${repoServer.address().port}`), env);
  assertAllChecked(page);
});

test("agent options: a mistake is named by line and key, then fixed, reviewed and saved", async () => {
  await visit(page, "/settings/agent-options", "agent-options");
  const editor = page.getByLabel("Agent options (JSON)");
  const stored = JSON.parse(await editor.inputValue());
  const wrong = structuredClone(stored);
  wrong.config ??= {};
  wrong.config.options ??= {};
  wrong.config.options.distributed_interval = "often";
  const wrongText = JSON.stringify(wrong, null, 2);
  const badLine = wrongText.split("\n").findIndex((l) => l.includes('"often"')) + 1;
  await editor.fill(wrongText);
  await act(page, () => page.getByRole("button", { name: "Review changes" }).click(), "agent-options-error", {
    expectStatus: 400,
  });
  const alert = await page.getByRole("alert").textContent();
  assert.ok(
    alert.includes(`line ${badLine}: \`config.options.distributed_interval\` must be a number`),
    `the error names the line and key: ${alert}`,
  );
  // What was typed is still there to fix.
  assert.equal(await page.getByLabel("Agent options (JSON)").inputValue(), wrongText);

  const fixed = structuredClone(wrong);
  fixed.config.options.distributed_interval = 17;
  await page.getByLabel("Agent options (JSON)").fill(JSON.stringify(fixed, null, 2));
  await act(page, () => page.getByRole("button", { name: "Review changes" }).click(), "agent-options-review");
  const diff = await page.getByLabel("Changes, line by line").textContent();
  assert.match(diff, /\+ .*"distributed_interval": 17/);
  await act(page, () => page.getByRole("button", { name: "Save" }).click(), "agent-options-saved");
  assert.match(await page.getByRole("status").first().textContent(), /agent options are saved/);

  const { status, body } = await server.api("GET", "/api/v1/fleet/config");
  assert.equal(status, 200);
  assert.equal(body.agent_options.config.options.distributed_interval, 17);
  assertAllChecked(page);
});
