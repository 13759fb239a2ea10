// Signing in and out through the pages, and the people the tests sign in as.

import assert from "node:assert/strict";

import { act, visit } from "./browser.mjs";

/// The first admin, created through the printed setup link.
export const ADMIN = {
  name: "Ada Admin",
  email: "ada@example.com",
  password: "correct horse 42 battery!",
  org: "Browser Test Org",
};

/// Creates the first admin through the setup link (`server.setupPath`); lands on the dashboard.
export async function setUpFirstAdmin(page, server, who = ADMIN, name = "setup") {
  assert.ok(server.setupPath, "flotilla-local printed no setup link");
  await visit(page, server.setupPath, `${name}-form`);
  await page.getByLabel("Organization name").fill(who.org || "");
  await page.getByLabel("Your name").fill(who.name);
  await page.getByLabel("Email").fill(who.email);
  await page.getByLabel("Password", { exact: true }).fill(who.password);
  await page.getByLabel("Password again").fill(who.password);
  await act(page, () => page.getByRole("button", { name: "Create the admin account" }).click(), `${name}-dashboard`);
  assert.equal(new URL(page.url()).pathname, "/");
  await assertSignedInAs(page, who);
}

/// Fills and sends the sign-in form of the page (which must be /login); checks the page it
/// lands on with `expectStatus`.
export async function submitSignIn(page, who, name, { password = who.password, expectStatus = 200 } = {}) {
  await page.getByLabel("Email").fill(who.email);
  await page.getByLabel("Password").fill(password);
  return act(page, () => page.getByRole("button", { name: "Sign in" }).click(), name, { expectStatus });
}

/// Signs in from /login; lands on `next` (default the dashboard).
export async function signIn(page, who, name = "sign-in", next = "/") {
  await visit(page, next === "/" ? "/login" : `/login?next=${encodeURIComponent(next)}`, `${name}-form`);
  await submitSignIn(page, who, `${name}-landed`);
  assert.equal(new URL(page.url()).pathname + new URL(page.url()).search, next);
  await assertSignedInAs(page, who);
}

export async function assertSignedInAs(page, who) {
  const me = page.locator("header.top .me a[href='/account']");
  assert.equal((await me.textContent()).trim(), who.name);
}

/// Signs out with the header's button; lands on /login.
export async function signOut(page, name = "signed-out") {
  await act(page, () => page.getByRole("button", { name: "Sign out" }).click(), name);
  assert.equal(new URL(page.url()).pathname, "/login");
}
