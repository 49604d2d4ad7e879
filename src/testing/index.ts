/** In-memory fakes of the cluster-state ports (src/kv) for unit tests and benchmarks. */
export { ConsulFaults, type ConsulOperation, type FailOptions } from "./consul-faults.js";
export { InMemoryConsul, type InMemoryConsulOptions } from "./in-memory-consul.js";
export { InMemoryKvStore } from "./in-memory-kv-store.js";
export { InMemorySessionMemory } from "./in-memory-session-memory.js";
export { InMemorySessionHandover } from "./in-memory-session-handover.js";
export { InMemorySessionStore } from "./in-memory-session-store.js";
export { ManualClock, SystemClock, settle, type FakeClock } from "./manual-clock.js";
export { inMemoryCluster, type InMemoryCluster } from "./in-memory-cluster.js";
