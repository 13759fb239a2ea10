// The simulated osquery hosts (lib/hosts.mjs) against the server's API: the pages' tests
// rely on them for hosts with vitals and for answering live queries.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { answerLiveQuery, enrollHosts } from "./lib/hosts.mjs";
import { startServer } from "./lib/server.mjs";

let server;
let hosts;

before(async () => {
  server = await startServer();
});

after(async () => {
  await server?.stop();
});

test("enrolled hosts answer their detail queries and have vitals", async () => {
  hosts = await enrollHosts(server, 3, { prefix: "vitals" });
  const { status, body } = await server.api("GET", "/api/v1/fleet/hosts");
  assert.equal(status, 200, JSON.stringify(body));
  // The listing holds the listing row's fields; the full vitals are on each host's own answer.
  const listed = [];
  for (const h of body.hosts) {
    const one = await server.api("GET", `/api/v1/fleet/hosts/${h.id}`);
    assert.equal(one.status, 200, JSON.stringify(one.body));
    listed.push([h.hostname, h.status, one.body.host.os_version, one.body.host.memory]);
  }
  listed.sort();
  assert.deepEqual(listed, [
    ["vitals-1", "online", "Ubuntu 22.04.4 LTS", 8589934592],
    ["vitals-2", "online", "Ubuntu 22.04.4 LTS", 8589934592],
    ["vitals-3", "online", "Ubuntu 22.04.4 LTS", 8589934592],
  ]);
  // Vitals are fresh: the next round asks for none.
  assert.deepEqual(await hosts[0].read(), {});
});

test("hosts answer a live query", async () => {
  const run = await server.api("POST", "/api/v1/fleet/queries/run", {
    query: "SELECT name, version FROM os_version",
    selected: { all: true },
  });
  assert.equal(run.status, 200, JSON.stringify(run.body));
  const id = run.body.campaign.id;
  const answered = await answerLiveQuery(hosts, (host) => [{ name: "Ubuntu", version: host.hostname }], {
    until: (name) => name === `fleet_distributed_query_${id}`,
  });
  for (const names of answered.values()) assert.deepEqual(names, [`fleet_distributed_query_${id}`]);
  const results = await server.api("GET", `/api/v1/fleet/campaigns/${id}/results`);
  assert.equal(results.status, 200);
  // Every targeted host answered: the campaign runs on until it is stopped or expires.
  assert.equal(results.body.campaign.status, "running");
  assert.deepEqual(
    results.body.results.map((r) => r.rows[0].version).sort(),
    ["vitals-1", "vitals-2", "vitals-3"],
  );
});
