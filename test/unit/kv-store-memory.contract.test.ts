/** The in-memory KvStore and SessionStore held to the contracts their Consul adapters pass. */
import { inMemoryCluster } from "../../src/testing/in-memory-cluster.js";
import { kvStoreContract } from "../contract/kv-store.contract.js";
import { pathLocksContract } from "../contract/path-locks.contract.js";
import { sessionStoreContract } from "../contract/session-store.contract.js";
import type { StoreFixture } from "../contract/store-fixture.js";

function fakeFixture(): StoreFixture {
  const { consul, kv, sessions, clock } = inMemoryCluster();
  return {
    kv,
    sessions,
    prefix: "contract/",
    nodeName: consul.nodeName,
    elapse: (ms) => clock.advanceAndSettle(ms),
    clock,
    close: () => {
      consul.close();
      return Promise.resolve();
    },
  };
}

kvStoreContract("InMemoryKvStore", fakeFixture);
sessionStoreContract("InMemorySessionStore", fakeFixture, { controlledClock: true });
pathLocksContract("the in-memory stores", fakeFixture);
