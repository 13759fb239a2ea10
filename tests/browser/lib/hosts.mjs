// Simulated osquery hosts over plain HTTP, in the shapes osquery sends (as
// tests/src/osquery_client.rs does): enroll with host details, then distributed read/write
// with the node key, answering the detail queries (vitals) and live queries.

import { randomUUID } from "node:crypto";

export class OsqueryHost {
  constructor(server, { uuid = randomUUID().toUpperCase(), hostname, platform = "ubuntu" } = {}) {
    this.server = server;
    this.uuid = uuid;
    this.instanceId = randomUUID();
    this.hostname = hostname || `host-${uuid.slice(0, 8).toLowerCase()}`;
    this.platform = platform;
    this.nodeKey = null;
  }

  hostDetails() {
    return {
      os_version: {
        name: "Ubuntu", version: "22.04.4 LTS (Jammy Jellyfish)", major: "22", minor: "4",
        patch: "0", platform: this.platform, platform_like: "debian",
      },
      osquery_info: {
        version: "5.12.1", instance_id: this.instanceId, pid: "4242",
        build_platform: "ubuntu", build_distro: "centos7",
      },
      system_info: {
        uuid: this.uuid, hostname: this.hostname, hardware_serial: "SER-1",
        hardware_model: "VirtualBox", computer_name: this.hostname, cpu_brand: "Xeon",
      },
      platform_info: { vendor: "innotek GmbH", version: "VirtualBox" },
    };
  }

  async send(endpoint, body) {
    const response = await fetch(this.server.url(`/api/osquery${endpoint}`), {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    const text = await response.text();
    let json;
    try {
      json = JSON.parse(text);
    } catch {
      throw new Error(`${endpoint}: non-JSON answer ${response.status}: ${text}`);
    }
    return { status: response.status, body: json };
  }

  /// osquery's enroll; throws unless it succeeds.
  async enroll(secret = this.server.enrollSecret) {
    const answer = await this.send("/enroll", {
      enroll_secret: secret,
      host_identifier: this.uuid,
      platform_type: this.platform === "darwin" ? "21" : this.platform === "windows" ? "2" : "9",
      host_details: this.hostDetails(),
    });
    if (answer.status !== 200 || answer.body.error || !answer.body.node_key) {
      throw new Error(`enroll ${this.hostname}: ${answer.status} ${JSON.stringify(answer.body)}`);
    }
    this.nodeKey = answer.body.node_key;
    return answer;
  }

  /// A node-key request; re-enrolls once on `node_invalid`, as osquery does.
  async call(endpoint, fields) {
    for (let i = 0; i < 2; i++) {
      if (!this.nodeKey) await this.enroll();
      const answer = await this.send(endpoint, { ...fields, node_key: this.nodeKey });
      if (answer.body.node_invalid === true) {
        this.nodeKey = null;
        continue;
      }
      return answer;
    }
    throw new Error(`${this.hostname}: still node_invalid after re-enrolling`);
  }

  /// The queries the server hands this host now: { name: sql }.
  async read() {
    const answer = await this.call("/distributed/read", {});
    if (answer.status !== 200 || !answer.body.queries) {
      throw new Error(`distributed/read: ${answer.status} ${JSON.stringify(answer.body)}`);
    }
    // As plain osquery does: a query whose discovery query finds no row (here: any, as the
    // simulated hosts have no extension tables) is neither run nor reported.
    const queries = { ...answer.body.queries };
    for (const name of Object.keys(answer.body.discovery ?? {})) delete queries[name];
    return queries;
  }

  async write(queries, statuses = {}, messages = {}) {
    const answer = await this.call("/distributed/write", { queries, statuses, messages, stats: {} });
    if (answer.status !== 200) {
      throw new Error(`distributed/write: ${answer.status} ${JSON.stringify(answer.body)}`);
    }
    return answer;
  }

  /// Rows a real Ubuntu host would answer to a detail query (vitals), by its short name.
  detailRows(name) {
    switch (name) {
      case "system_info":
        return [{
          hostname: this.hostname, uuid: this.uuid, cpu_brand: "Xeon",
          physical_memory: "8589934592", hardware_serial: "SER-1",
        }];
      case "os_version":
        return [{ name: "Ubuntu", version: "22.04.4 LTS", platform: this.platform }];
      case "osquery_info":
        return [{ version: "5.12.1" }];
      case "uptime":
        return [{ total_seconds: "7200" }];
      case "disk_space_unix":
        return [{ percent_disk_space_available: "42", gigs_disk_space_available: "21.5", gigs_total_disk_space: "50" }];
      case "network_interface_unix":
        return [{ address: "192.0.2.7", mac: "08:00:27:aa:bb:cc" }];
      case "osquery_flags":
        return [
          { name: "distributed_interval", value: "10" },
          { name: "config_refresh", value: "60" },
          { name: "logger_tls_period", value: "10" },
        ];
      default:
        return "";
    }
  }

  /// One distributed round: read, answer the detail queries with vitals and every other
  /// (live) query with `answer(name, sql)` (rows, or undefined to leave it unanswered).
  /// Answers the names of the live queries seen.
  async poll(answer = () => undefined) {
    const queries = await this.read();
    const rows = {};
    const statuses = {};
    const live = [];
    for (const [name, sql] of Object.entries(queries)) {
      if (name.startsWith("fleet_detail_query_")) {
        rows[name] = this.detailRows(name.slice("fleet_detail_query_".length));
        statuses[name] = 0;
      } else {
        live.push(name);
        const result = answer(name, sql);
        if (result !== undefined) {
          rows[name] = result;
          statuses[name] = 0;
        }
      }
    }
    if (Object.keys(rows).length > 0) await this.write(rows, statuses);
    return live;
  }
}

/// osquery's file carve of `data` (a Buffer): carve/begin, then every block in order.
/// Answers the session id.
OsqueryHost.prototype.carve = async function carve(data, { blockSize = 8192, requestId = `browser-carve-${randomUUID()}` } = {}) {
  const begun = await this.call("/carve/begin", {
    block_count: Math.ceil(data.length / blockSize),
    block_size: blockSize,
    carve_size: data.length,
    carve_id: randomUUID(),
    request_id: requestId,
  });
  if (begun.status !== 200 || begun.body.success !== true) {
    throw new Error(`carve/begin: ${begun.status} ${JSON.stringify(begun.body)}`);
  }
  const sessionId = begun.body.session_id;
  for (let id = 0; id * blockSize < data.length; id++) {
    const block = await this.send("/carve/block", {
      block_id: id,
      session_id: sessionId,
      request_id: requestId,
      data: data.subarray(id * blockSize, (id + 1) * blockSize).toString("base64"),
    });
    if (block.status !== 200) throw new Error(`carve/block ${id}: ${block.status} ${JSON.stringify(block.body)}`);
  }
  return sessionId;
};

/// Enrolls `count` hosts and answers their detail queries, so they have vitals.
export async function enrollHosts(server, count, { prefix = "browser-host" } = {}) {
  const hosts = [];
  for (let i = 1; i <= count; i++) {
    const host = new OsqueryHost(server, { hostname: `${prefix}-${i}` });
    await host.enroll();
    await host.poll();
    hosts.push(host);
  }
  return hosts;
}

/// Polls every host (a distributed round each) every `everyMs` until each has been handed a
/// live query `until(name, sql)` accepts, answering it with `answer(host, name, sql)` (rows).
/// The server sees a new campaign within 2 s (its live snapshot); answers the query names
/// each host answered.
export async function answerLiveQuery(hosts, answer, { until = () => true, timeoutMs = 15_000, everyMs = 300 } = {}) {
  const answered = new Map(hosts.map((h) => [h, []]));
  const deadline = Date.now() + timeoutMs;
  while ([...answered.values()].some((names) => names.length === 0)) {
    if (Date.now() > deadline) {
      const waiting = hosts.filter((h) => answered.get(h).length === 0).map((h) => h.hostname);
      throw new Error(`no live query reached ${waiting.join(", ")} within ${timeoutMs} ms`);
    }
    for (const host of hosts) {
      if (answered.get(host).length > 0) continue;
      const names = await host.poll((name, sql) => (until(name, sql) ? answer(host, name, sql) : undefined));
      answered.get(host).push(...names.filter((n) => n.startsWith("fleet_distributed_query_")));
    }
    await new Promise((ok) => setTimeout(ok, everyMs));
  }
  return answered;
}
