// Debian's Chromium through playwright-core, and the checks every page visit passes:
//
// - no console error, no uncaught exception (`pageerror`), no failed subresource;
// - no Content Security Policy violation, seen two ways: Chromium's console message
//   ("Refused to ... because it violates the following Content Security Policy directive")
//   and the page's own `securitypolicyviolation` events, recorded by an init script (init
//   scripts come through CDP, which the page's CSP does not govern);
// - the page carries our CSP header (no 'unsafe-inline');
// - axe-core finds no violation of impact "serious" or "critical", in light and in dark
//   mode (axe is evaluated through CDP, `page.evaluate`, which the page's CSP does not
//   govern either: no `bypassCSP` anywhere);
// - a full-page screenshot in light and dark mode, `<repo>/target/ui-screenshots/<name>-{light,dark}.png`.
//
// checks.test.mjs proves the CSP and axe checks catch a deliberate violation.

import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { chromium } from "playwright-core";

import { REPO } from "./server.mjs";

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

export const SCREENSHOTS = process.env.FLOTILLA_SCREENSHOTS_DIR || join(REPO, "target", "ui-screenshots");

export const CHROMIUM = process.env.FLOTILLA_CHROMIUM || "/usr/bin/chromium";

/// Impacts that fail a page; lesser ones are collected in `notes`.
const FAILING_IMPACTS = new Set(["serious", "critical"]);

/// axe findings below the failing impacts, for a summary at the end of a test file.
export const notes = [];

export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/// Runs in every document before its own scripts: records CSP violations the page sees.
function recordViolations() {
  window.__flotillaCsp = [];
  window.addEventListener(
    "securitypolicyviolation",
    (e) => {
      window.__flotillaCsp.push({
        directive: e.violatedDirective,
        blocked: e.blockedURI,
        source: e.sourceFile,
        line: e.lineNumber,
        sample: e.sample,
        disposition: e.disposition,
      });
    },
    true,
  );
}

/// A browser context on the server's origin, with the violation recorder in every document.
export async function newContext(browser, server, options = {}) {
  const context = await browser.newContext({
    baseURL: server.origin,
    viewport: { width: 1280, height: 800 },
    colorScheme: "light",
    reducedMotion: "reduce",
    ...options,
  });
  await context.addInitScript(recordViolations);
  return context;
}

/// A page whose problems (console errors, exceptions, failed requests) are collected for
/// the next `checkPage`.
export async function newPage(context) {
  const page = await context.newPage();
  watch(page);
  return page;
}

export function watch(page) {
  if (page.__flotilla) return page.__flotilla;
  const state = { problems: [], unchecked: new Set() };
  page.__flotilla = state;
  page.on("console", (message) => {
    if (message.type() !== "error") return;
    const text = message.text();
    const where = message.location()?.url || page.url();
    const kind = /Content Security Policy/i.test(text) ? "CSP violation (console)" : "console error";
    state.problems.push({ kind, text, where });
  });
  page.on("pageerror", (error) => {
    state.problems.push({ kind: "uncaught exception", text: String(error?.stack || error), where: page.url() });
  });
  page.on("requestfailed", (request) => {
    const failure = request.failure()?.errorText || "failed";
    // Leaving a page aborts what it was still loading (a refreshing region's fetch), a
    // navigation replaced by another one or a download aborts too: no defect. A load the
    // CSP blocks is reported by the CSP checks.
    if (failure === "net::ERR_ABORTED") return;
    state.problems.push({ kind: "request failed", text: `${request.method()} ${request.url()}: ${failure}`, where: page.url() });
  });
  page.on("load", () => state.unchecked.add(page.url()));
  return state;
}

/// The name of a screenshot: letters, digits and dashes.
export function safeName(name) {
  return name.toLowerCase().replace(/[^a-z0-9_-]+/g, "-").replace(/^-+|-+$/g, "") || "root";
}

function formatAxe(violations) {
  return violations
    .map((v) => {
      const nodes = v.nodes
        .slice(0, 5)
        .map((n) => `      ${n.target.join(" ")}\n        ${(n.failureSummary || "").replace(/\n/g, "\n        ")}`)
        .join("\n");
      const more = v.nodes.length > 5 ? `\n      ... and ${v.nodes.length - 5} more` : "";
      return `  [${v.impact}] ${v.id}: ${v.help} (${v.helpUrl})\n${nodes}${more}`;
    })
    .join("\n");
}

/// axe-core's violations on the page now.
export async function runAxe(page) {
  const present = await page.evaluate(() => typeof window.axe === "object");
  if (!present) await page.evaluate(AXE_SOURCE);
  return page.evaluate(async () => {
    const results = await window.axe.run(document, { resultTypes: ["violations"] });
    return results.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      helpUrl: v.helpUrl,
      nodes: v.nodes.map((n) => ({ target: n.target.map(String), failureSummary: n.failureSummary })),
    }));
  });
}

/// The CSP violations the page's init script recorded in this document.
export async function recordedViolations(page) {
  return page.evaluate(() => window.__flotillaCsp || null);
}

function describe(problems) {
  return problems.map((p) => `  ${p.kind} at ${p.where}:\n    ${p.text.replace(/\n/g, "\n    ")}`).join("\n");
}

/// Every check on the page as it is now (see the top of this file). `expectStatus`: the
/// status the document was answered with, whose "Failed to load resource" console line is
/// then expected. Throws an AssertionError listing every problem found.
export async function checkPage(page, name, { response = null, expectStatus = 200, screenshots = true } = {}) {
  const state = watch(page);
  const failures = [];
  await page.waitForLoadState("load");
  const url = page.url();

  if (response) {
    if (response.status() !== expectStatus) {
      failures.push(`status ${response.status()} for ${response.url()}, expected ${expectStatus}`);
    }
    const csp = (await response.allHeaders())["content-security-policy"] || "";
    if (!/script-src 'self'/.test(csp) || /unsafe-inline|unsafe-eval/.test(csp)) {
      failures.push(`the page's Content-Security-Policy is not ours: ${JSON.stringify(csp)}`);
    }
  }

  const violations = await recordedViolations(page);
  if (violations === null) {
    failures.push("the securitypolicyviolation recorder is missing from this document");
  } else if (violations.length > 0) {
    failures.push(`CSP violations (securitypolicyviolation events):\n${violations.map((v) => `  ${JSON.stringify(v)}`).join("\n")}`);
  }

  for (const scheme of ["light", "dark"]) {
    await page.emulateMedia({ colorScheme: scheme });
    const found = await runAxe(page);
    const failing = found.filter((v) => FAILING_IMPACTS.has(v.impact));
    if (failing.length > 0) {
      failures.push(`axe-core (${scheme} mode) on ${url}:\n${formatAxe(failing)}`);
    }
    for (const v of found.filter((v) => !FAILING_IMPACTS.has(v.impact))) {
      const note = `${v.impact} ${v.id} (${scheme}) on ${new URL(url).pathname}: ${v.help}`;
      if (!notes.includes(note)) notes.push(note);
    }
    if (screenshots) {
      mkdirSync(SCREENSHOTS, { recursive: true });
      await page.screenshot({ path: join(SCREENSHOTS, `${safeName(name)}-${scheme}.png`), fullPage: true });
    }
  }
  await page.emulateMedia({ colorScheme: "light" });

  // Violations again: axe and the dark scheme ran in the page too.
  const after = await recordedViolations(page);
  if (after && violations && after.length > violations.length) {
    failures.push(`CSP violations while checking:\n${after.slice(violations.length).map((v) => `  ${JSON.stringify(v)}`).join("\n")}`);
  }

  const expectedLine = `Failed to load resource: the server responded with a status of ${expectStatus}`;
  const problems = state.problems.filter(
    (p) => !(expectStatus >= 400 && p.kind === "console error" && p.text.startsWith(expectedLine)),
  );
  state.problems.length = 0;
  if (problems.length > 0) failures.push(`problems in the page:\n${describe(problems)}`);

  state.unchecked.delete(url);
  if (failures.length > 0) {
    assert.fail(`page check "${name}" failed (${url}):\n${failures.join("\n")}`);
  }
}

/// Goes to `path` and checks the page; answers the response.
export async function visit(page, path, name, options = {}) {
  watch(page);
  const response = await page.goto(path);
  assert.ok(response, `no response for ${path}`);
  await checkPage(page, name, { response, ...options });
  return response;
}

/// The main-frame document response that ends the navigation `action` starts (after redirects).
export async function navigation(page, action) {
  const [response] = await Promise.all([
    page.waitForResponse(
      (r) =>
        r.request().isNavigationRequest() &&
        r.request().frame() === page.mainFrame() &&
        !(r.status() >= 300 && r.status() < 400),
    ),
    action(),
  ]);
  await page.waitForLoadState("load");
  return response;
}

/// Does `action` (a click that submits or follows a link), then checks the page it lands on.
export async function act(page, action, name, options = {}) {
  const response = await navigation(page, action);
  await checkPage(page, name, { response, ...options });
  return response;
}

/// Fails if the page loaded a document that no `checkPage` looked at.
export function assertAllChecked(page) {
  const left = [...watch(page).unchecked];
  assert.deepEqual(left, [], `documents loaded without the page checks: ${left.join(", ")}`);
}
