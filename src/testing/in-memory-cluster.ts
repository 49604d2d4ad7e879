import { InMemoryConsul, type InMemoryConsulOptions } from "./in-memory-consul.js";
import { InMemoryKvStore } from "./in-memory-kv-store.js";
import { InMemorySessionStore } from "./in-memory-session-store.js";
import { ManualClock } from "./manual-clock.js";

/** A KvStore and a SessionStore sharing one in-memory Consul. */
export interface InMemoryCluster {
  consul: InMemoryConsul;
  kv: InMemoryKvStore;
  sessions: InMemorySessionStore;
  /** The store's clock when it is a ManualClock (the default). */
  clock: ManualClock;
}

/** An in-memory Consul on a ManualClock with its two stores: `const { kv, sessions, clock } = inMemoryCluster()`. */
export function inMemoryCluster(
  options: Omit<InMemoryConsulOptions, "clock"> & { clock?: ManualClock } = {},
): InMemoryCluster {
  const clock = options.clock ?? new ManualClock();
  const consul = new InMemoryConsul({ ...options, clock });
  return { consul, kv: new InMemoryKvStore(consul), sessions: new InMemorySessionStore(consul), clock };
}
