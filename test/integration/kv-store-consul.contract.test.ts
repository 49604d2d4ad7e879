/**
 * ConsulKvStore and ConsulSessionStore against a real agent, held to the same contracts as the
 * in-memory fakes (test/unit/kv-store-memory.contract.test.ts), so that the fakes cannot drift.
 */
import { cleanUpAll } from "../support/clean-up.js";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll } from "vitest";
import { ConsulClient } from "../../src/consul/consul-client.js";
import { kvStoreContract } from "../contract/kv-store.contract.js";
import { pathLocksContract } from "../contract/path-locks.contract.js";
import { sessionStoreContract } from "../contract/session-store.contract.js";
import type { StoreFixture } from "../contract/store-fixture.js";
import { startConsulHarness, type ConsulHarness } from "../harness/consul.js";
import { kvOf, sessionsOf } from "../support/consul-stores.js";

let consul: ConsulHarness | undefined;
let client: ConsulClient | undefined;
let tests = 0;

beforeAll(async () => {
  consul = await startConsulHarness("kv-contract");
  client = new ConsulClient({ address: consul.agent.httpAddress });
});
afterAll(async () => {
  await cleanUpAll(
    () => client?.close(),
    () => consul?.stop(),
  );
});

function consulFixture(): StoreFixture {
  if (consul === undefined || client === undefined) throw new Error("the agent is not running");
  tests += 1;
  return {
    kv: kvOf(client),
    sessions: sessionsOf(client),
    prefix: `contract/${tests}/`,
    nodeName: consul.agent.nodeName,
    elapse: (ms) => sleep(ms),
  };
}

kvStoreContract("ConsulKvStore", consulFixture);
sessionStoreContract("ConsulSessionStore", consulFixture);
pathLocksContract("the Consul adapters", consulFixture);
