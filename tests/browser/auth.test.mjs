// Signing in and out in a real browser: first-run setup through the printed link, sign out,
// a wrong then a right password, and a session ended elsewhere.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { act, assertAllChecked, launch, newContext, newPage, notes, visit } from "./lib/browser.mjs";
import { startServer } from "./lib/server.mjs";
import { ADMIN, assertSignedInAs, setUpFirstAdmin, signIn, signOut, submitSignIn } from "./lib/session.mjs";

let server;
let browser;
let context;
let page;

before(async () => {
  server = await startServer();
  browser = await launch();
  context = await newContext(browser, server);
  page = await newPage(context);
});

after(async () => {
  await browser?.close();
  await server?.stop();
});

const pathOf = (p) => {
  const url = new URL(p.url());
  return url.pathname + url.search;
};

test("first-run setup through the printed link lands on the dashboard", async () => {
  await setUpFirstAdmin(page, server, ADMIN, "auth-setup");
  await assert.doesNotReject(page.getByRole("heading", { name: "Dashboard", level: 1 }).waitFor());
  // The link works once: now it leads to sign in.
  await visit(page, server.setupPath, "auth-setup-used");
  assert.equal(new URL(page.url()).pathname, "/login");
  await visit(page, "/", "auth-dashboard");
  assertAllChecked(page);
});

test("sign out lands on sign in; a page then asks to sign in and names itself as next", async () => {
  await signOut(page, "auth-signed-out");
  await visit(page, "/account", "auth-account-signed-out");
  assert.equal(pathOf(page), "/login?next=%2Faccount");
  assertAllChecked(page);
});

test("a wrong password shows the error (401), the right one lands on next", async () => {
  assert.equal(pathOf(page), "/login?next=%2Faccount");
  const refused = await submitSignIn(page, ADMIN, "auth-wrong-password", {
    password: "not the password 1!",
    expectStatus: 401,
  });
  assert.equal(refused.status(), 401);
  const alert = page.getByRole("alert");
  assert.equal((await alert.textContent()).trim(), "That email and password do not match an account.");
  // The email stays filled in; the password does not.
  assert.equal(await page.getByLabel("Email").inputValue(), ADMIN.email);
  assert.equal(await page.getByLabel("Password").inputValue(), "");
  await submitSignIn(page, ADMIN, "auth-right-password");
  assert.equal(pathOf(page), "/account");
  await assertSignedInAs(page, ADMIN);
  assertAllChecked(page);
});

test("session expiry sends you to sign in, and signing in returns to the page", async () => {
  const eve = await server.createUser({
    name: "Eve Expiry",
    email: "eve@example.com",
    password: "first password 1!",
    globalRole: "admin",
  });
  const firstContext = await newContext(browser, server);
  const first = await newPage(firstContext);
  await signIn(first, eve, "auth-expiry-first");
  await visit(first, "/account", "auth-expiry-first-account");

  // Elsewhere, Eve changes her password: her other sessions end.
  const secondContext = await newContext(browser, server);
  const second = await newPage(secondContext);
  await signIn(second, eve, "auth-expiry-second");
  await visit(second, "/account", "auth-expiry-second-account");
  const newPassword = "second password 2!";
  await second.getByLabel("Current password").fill(eve.password);
  await second.getByLabel("New password", { exact: true }).fill(newPassword);
  await second.getByLabel("New password again").fill(newPassword);
  await act(second, () => second.getByRole("button", { name: "Change password" }).click(), "auth-expiry-changed");
  assert.equal(pathOf(second), "/account?notice=password-changed");
  assert.match(await second.getByRole("status").textContent(), /your other sessions have ended/);
  assertAllChecked(second);
  await secondContext.close();

  // The first browser's session is over: the next page it asks for sends it to sign in.
  await visit(first, "/account", "auth-expiry-ended");
  assert.equal(pathOf(first), "/login?next=%2Faccount");
  await submitSignIn(first, { ...eve, password: newPassword }, "auth-expiry-back");
  assert.equal(pathOf(first), "/account");
  await assertSignedInAs(first, eve);
  assertAllChecked(first);
  await firstContext.close();
});

test("axe notes below serious", (t) => {
  for (const note of notes) t.diagnostic(note);
});
