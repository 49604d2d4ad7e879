/**
 * watchLeaseExpiries: a newly proven expiry is reported as soon as new proof material comes (the
 * wake), not at the next heartbeat; once per expiry; and the watch lets go of the wake when its
 * signal aborts.
 */
import { describe, expect, it } from "vitest";
import { watchLeaseExpiries } from "../../src/node/lease-expiry-watch.js";
import type { LeaseTiming } from "../../src/node/peer-lease-keeper.js";

const TIMING: LeaseTiming = {
  heartbeatMs: 60_000,
  leaseMs: 240_000,
  teardownBudgetMs: 100,
  clockRateError: 0.01,
  marginMs: 20,
};

describe("watchLeaseExpiries", () => {
  it("reports a proof when proof material comes, once, and unsubscribes when aborted", () => {
    const proven = new Set<string>();
    const lease = { timing: TIMING, expiryProven: (subject: string) => proven.has(subject) };
    const members = () => ({
      peers: ["b", "c"].map((name) => ({ name, address: `${name}:1` })),
      size: 3,
    });
    const wakes = new Set<() => void>();
    const wake = (listener: () => void) => {
      wakes.add(listener);
      return () => wakes.delete(listener);
    };
    const reported: string[][] = [];
    const stop = new AbortController();
    watchLeaseExpiries(lease, members, stop.signal, (nodes) => reported.push([...nodes]), wake);
    expect(reported).toEqual([]);

    proven.add("c");
    for (const listener of wakes) listener();
    expect(reported).toEqual([["c"]]);
    for (const listener of wakes) listener();
    expect(reported).toEqual([["c"]]);

    stop.abort();
    expect(wakes.size).toBe(0);
  });
});
