import type { SessionSettings } from "../../src/node/node-session.js";
import type { LeaseTiming } from "../../src/node/peer-lease-keeper.js";

/** Peer leases fast enough for unit tests on the fakes: renewed every 50 ms, 400 ms long. */
export const TEST_LEASE_TIMING: LeaseTiming = {
  heartbeatMs: 50,
  leaseMs: 400,
  teardownBudgetMs: 100,
  clockRateError: 0.01,
  marginMs: 20,
};

/** No lock-delay (peer leases); Consul renews far apart, so that a destroyed session goes unnoticed a while. */
export const TEST_LEASE_SESSION: SessionSettings = {
  ttlSeconds: 10,
  lockDelaySeconds: 0,
  fenceDeadlineMs: 30_000,
};
