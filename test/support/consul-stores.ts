import type { ConsulClient } from "../../src/consul/consul-client.js";
import { ConsulKvStore } from "../../src/consul/consul-kv-store.js";
import { ConsulSessionStore } from "../../src/consul/consul-session-store.js";

const kvStores = new WeakMap<ConsulClient, ConsulKvStore>();
const sessionStores = new WeakMap<ConsulClient, ConsulSessionStore>();

/** The KvStore adapter over a test's Consul client (one per client). */
export function kvOf(client: ConsulClient): ConsulKvStore {
  let kv = kvStores.get(client);
  if (kv === undefined) {
    kv = new ConsulKvStore(client);
    kvStores.set(client, kv);
  }
  return kv;
}

/** The SessionStore adapter over a test's Consul client (one per client). */
export function sessionsOf(client: ConsulClient): ConsulSessionStore {
  let sessions = sessionStores.get(client);
  if (sessions === undefined) {
    sessions = new ConsulSessionStore(client);
    sessionStores.set(client, sessions);
  }
  return sessions;
}
