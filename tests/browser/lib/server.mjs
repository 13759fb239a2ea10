// One flotilla-local per test file: a free port, a fresh data directory, the one-time setup
// link it prints, the credentials it writes, and a stop at the end.

import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/// The repository's root (tests/browser/lib/ is three levels down).
export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");

/// The flotilla-local binary: $FLOTILLA_LOCAL_BIN, else the cargo target directory's debug build.
export function binaryPath() {
  if (process.env.FLOTILLA_LOCAL_BIN) return process.env.FLOTILLA_LOCAL_BIN;
  const target = process.env.CARGO_TARGET_DIR || join(REPO, "target");
  return join(target, "debug", "flotilla-local");
}

/// A port nobody listens on now (it may be taken before flotilla-local binds it: start retries).
export function freePort() {
  return new Promise((ok, fail) => {
    const probe = createServer();
    probe.unref();
    probe.on("error", fail);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => ok(port));
    });
  });
}

const sleep = (ms) => new Promise((ok) => setTimeout(ok, ms));

/// A running flotilla-local.
export class Server {
  constructor({ child, port, dataDir, output }) {
    this.child = child;
    this.port = port;
    this.dataDir = dataDir;
    this.output = output;
    this.origin = `http://127.0.0.1:${port}`;
    /// `/setup?token=...` as printed (path and query), or null once an admin exists.
    this.setupPath = null;
    const credentials = JSON.parse(readFileSync(join(dataDir, "credentials.json"), "utf8"));
    this.enrollSecret = credentials.enroll_secret;
    this.adminToken = credentials.admin_token;
  }

  url(path) {
    return new URL(path, this.origin).toString();
  }

  /// A JSON API call with the break-glass admin token (or `token`); answers { status, body }.
  async api(method, path, body, { token = this.adminToken } = {}) {
    const response = await fetch(this.url(path), {
      method,
      headers: {
        "content-type": "application/json",
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    let json = null;
    try {
      json = JSON.parse(text);
    } catch {
      json = text;
    }
    return { status: response.status, body: json };
  }

  /// Creates a user with the break-glass token (as tests/src/harness.rs `user()` does).
  async createUser({ name, email, password, globalRole = null, teams = [] }) {
    const { status, body } = await this.api("POST", "/api/v1/fleet/users/admin", {
      name,
      email,
      password,
      global_role: globalRole,
      teams,
    });
    if (status !== 200) throw new Error(`create user ${email}: ${status} ${JSON.stringify(body)}`);
    return { id: body.user.id, name, email, password };
  }

  /// Stops the server (SIGTERM, then SIGKILL after 5 s) and removes its data directory.
  async stop() {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise((ok) => this.child.once("exit", ok));
      this.child.kill("SIGTERM");
      const timer = setTimeout(() => this.child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    }
    if (!process.env.FLOTILLA_BROWSER_KEEP_DATA) {
      rmSync(this.dataDir, { recursive: true, force: true });
    }
  }
}

/// Starts flotilla-local on a free loopback port over a new data directory and waits until
/// `GET /healthz` answers 200.
export async function startServer({ args = [] } = {}) {
  const bin = binaryPath();
  if (!existsSync(bin)) {
    throw new Error(`${bin} does not exist: run \`cargo build -p flotilla-local\` or set FLOTILLA_LOCAL_BIN`);
  }
  let lastError;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freePort();
    const dataDir = mkdtempSync(join(tmpdir(), "flotilla-browser-"));
    try {
      return await startOn(bin, port, dataDir, args);
    } catch (err) {
      lastError = err;
      rmSync(dataDir, { recursive: true, force: true });
    }
  }
  throw lastError;
}

async function startOn(bin, port, dataDir, args) {
  // Credentials come from the data directory, not from the environment of whoever runs us.
  const env = { ...process.env, RUST_LOG: process.env.RUST_LOG || "warn" };
  delete env.FLOTILLA_ENROLL_SECRET;
  delete env.FLOTILLA_ADMIN_TOKEN;
  const child = spawn(bin, ["--addr", `127.0.0.1:${port}`, "--data-dir", dataDir, ...args], {
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output = [];
  let setupPath = null;
  let stdoutBuffer = "";
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk) => {
    stdoutBuffer += chunk;
    output.push(chunk);
    const match = stdoutBuffer.match(/first admin:\s+https?:\/\/[^/\s]+(\/setup\?token=[A-Za-z0-9_-]+)/);
    if (match) setupPath = match[1];
  });
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk) => {
    output.push(chunk);
    if (process.env.FLOTILLA_BROWSER_SERVER_LOG) process.stderr.write(chunk);
  });
  const exited = new Promise((ok) => child.once("exit", (code, signal) => ok({ code, signal })));

  const deadline = Date.now() + 30_000;
  let healthy = false;
  while (Date.now() < deadline) {
    const done = await Promise.race([exited, sleep(100).then(() => null)]);
    if (done) {
      throw new Error(`flotilla-local exited (${done.code ?? done.signal}) while starting:\n${output.join("")}`);
    }
    try {
      const response = await fetch(`http://127.0.0.1:${port}/healthz`);
      if (response.status === 200) {
        healthy = true;
        break;
      }
    } catch {
      // Not listening yet.
    }
  }
  if (!healthy) {
    child.kill("SIGKILL");
    throw new Error(`flotilla-local did not answer /healthz within 30 s:\n${output.join("")}`);
  }
  // The link is printed before the server binds its port, so it is in by now.
  const server = new Server({ child, port, dataDir, output });
  server.setupPath = setupPath;
  return server;
}
