// The per-page checks themselves (lib/browser.mjs): that a clean page passes them, and that
// each catches what it is there to catch, under the server's real Content Security Policy.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { checkPage, launch, newContext, newPage, recordedViolations, runAxe, visit } from "./lib/browser.mjs";
import { startServer } from "./lib/server.mjs";

let server;
let browser;
let context;
let policy;

before(async () => {
  server = await startServer();
  browser = await launch();
  context = await newContext(browser, server);
  // The probes below are served under the policy the server's pages carry.
  policy = (await fetch(server.url("/login"))).headers.get("content-security-policy");
  assert.match(policy, /script-src 'self'/);
  assert.doesNotMatch(policy, /unsafe-inline/);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

/// A page served at `path` on the server's own origin, under the server's own CSP header.
async function probe(page, path, body) {
  await page.route(server.url(path), (route) =>
    route.fulfill({
      status: 200,
      headers: { "content-type": "text/html; charset=utf-8", "content-security-policy": policy },
      body,
    }),
  );
}

test("a clean page passes, axe runs under the page's CSP without a violation", async () => {
  const page = await newPage(context);
  await visit(page, "/login", "checks-login");
  // The recorder (an init script) is in the document, and evaluating axe's source through
  // CDP worked although script-src forbids inline code and eval.
  assert.deepEqual(await recordedViolations(page), []);
  assert.ok(Array.isArray(await runAxe(page)));
  assert.deepEqual(await recordedViolations(page), []);
  await page.close();
});

test("an inline script in the markup is blocked, recorded by the init script, and fails the page", async () => {
  const page = await newPage(context);
  await probe(
    page,
    "/probe-inline-script",
    `<!doctype html><html lang="en"><head><title>probe</title></head>
     <body><main><h1>Probe</h1><script>window.__ran = true;</script></main></body></html>`,
  );
  const response = await page.goto("/probe-inline-script");
  assert.equal(await page.evaluate(() => window.__ran), undefined, "the CSP blocked the inline script");
  const violations = await recordedViolations(page);
  assert.equal(violations.length, 1, JSON.stringify(violations));
  assert.equal(violations[0].directive, "script-src-elem");
  assert.equal(violations[0].blocked, "inline");
  await assert.rejects(checkPage(page, "checks-probe-inline-script", { response }), (err) => {
    assert.match(err.message, /CSP violations \(securitypolicyviolation events\)/);
    assert.match(err.message, /CSP violation \(console\).*Content Security Policy/s);
    return true;
  });
  await page.close();
});

test("a violation made after load (an inline style attribute) is caught too", async () => {
  const page = await newPage(context);
  await visit(page, "/login", "checks-login-again");
  await page.evaluate(() => {
    document.querySelector("h1").setAttribute("style", "color: red");
  });
  const violations = await recordedViolations(page);
  assert.equal(violations.length, 1, JSON.stringify(violations));
  assert.equal(violations[0].directive, "style-src-attr");
  await assert.rejects(checkPage(page, "checks-inline-style"), /style-src/);
  await page.close();
});

test("axe-core finds a serious or critical violation and fails the page", async () => {
  const page = await newPage(context);
  await probe(
    page,
    "/probe-axe",
    `<!doctype html><html lang="en"><head><title>probe</title></head>
     <body><main><h1>Probe</h1><img src="data:image/gif;base64,R0lGODlhAQABAAAAACw="></main></body></html>`,
  );
  const response = await page.goto("/probe-axe");
  await assert.rejects(checkPage(page, "checks-probe-axe", { response }), (err) => {
    assert.match(err.message, /axe-core \(light mode\)/);
    assert.match(err.message, /\[critical\] image-alt/);
    return true;
  });
  await page.close();
});

test("a console error and an uncaught exception fail the page", async () => {
  const page = await newPage(context);
  await visit(page, "/login", "checks-login-console");
  await page.evaluate(() => {
    console.error("deliberate console error");
    setTimeout(() => {
      throw new Error("deliberate exception");
    }, 0);
  });
  await page.waitForTimeout(100);
  await assert.rejects(checkPage(page, "checks-console", { screenshots: false }), (err) => {
    assert.match(err.message, /console error.*deliberate console error/s);
    assert.match(err.message, /uncaught exception.*deliberate exception/s);
    return true;
  });
  await page.close();
});
