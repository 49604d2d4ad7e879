/**
 * The main thread's copy of the lease worker's proof material (src/node/lease-mirror.ts) and the
 * shared fenceAt (src/lease-worker/lease-worker-messages.ts): a copy proves what the keeper proved
 * when the copy was taken, and never more as time goes on without a newer copy.
 */
import { describe, expect, it } from "vitest";
import type { LeaseGrant } from "../../src/assignment/node-rpc.js";
import { SharedInstant } from "../../src/lease-worker/lease-worker-messages.js";
import { createLogger } from "../../src/log/logger.js";
import { LeaseMirror } from "../../src/node/lease-mirror.js";
import { PeerLeaseKeeper, type LeaseTiming } from "../../src/node/peer-lease-keeper.js";
import { provenSilenceMs } from "../../src/node/peer-lease.js";

const TIMING: LeaseTiming = {
  heartbeatMs: 100,
  leaseMs: 1000,
  teardownBudgetMs: 200,
  clockRateError: 0.01,
  marginMs: 50,
};
const MEMBERS = {
  peers: [
    { name: "n2", address: "n2:1" },
    { name: "n3", address: "n3:1" },
  ],
  size: 3,
};

/** n1's keeper on a hand-driven clock; n2 answers every renew with the silences given. */
function keeperOnClock(silencesOfN2: () => Map<string, number>): {
  keeper: PeerLeaseKeeper;
  clock: { now: number };
} {
  const clock = { now: 10_000 };
  const keeper = new PeerLeaseKeeper({
    self: "n1",
    timing: TIMING,
    members: () => MEMBERS,
    logger: createLogger({ level: "silent" }),
    now: () => clock.now,
    rpc: {
      renewLease: (peer): Promise<LeaseGrant> =>
        peer.name === "n2"
          ? Promise.resolve({ node: "n2", granted: true, silences: silencesOfN2() })
          : Promise.reject(new Error("n3 is down")),
    },
  });
  return { keeper, clock };
}

describe("LeaseMirror", () => {
  it("proves from a snapshot what the keeper proved when it was taken", async () => {
    const { keeper, clock } = keeperOnClock(() => new Map([["n3", 5000]]));
    const mirror = new LeaseMirror(TIMING, "n1");
    expect(mirror.expiryProven("n3", 3, 0)).toBe(false); // no snapshot yet

    // n1 never granted n3 and n2 reports n3 silent for 5 s: proven once n1's own silence is long enough.
    const needed = provenSilenceMs(TIMING);
    clock.now += needed / 2;
    await keeper.renewRound();
    mirror.apply(keeper.snapshot());
    expect(keeper.expiryProven("n3", 0)).toBe(false);
    expect(mirror.expiryProven("n3", 3, 0)).toBe(false);

    clock.now += needed;
    await keeper.renewRound();
    mirror.apply(keeper.snapshot());
    expect(keeper.expiryProven("n3", 0)).toBe(true);
    expect(mirror.expiryProven("n3", 3, 0)).toBe(true);
    // Never about itself; and not for a proof that must come after the snapshot was taken.
    expect(mirror.expiryProven("n1", 3, 0)).toBe(false);
    expect(mirror.expiryProven("n3", 3, clock.now + 1)).toBe(false);
  });

  it("does not stretch a silence past the snapshot: a node granted just before it is not proven later on", async () => {
    const { keeper, clock } = keeperOnClock(() => new Map([["n3", 60_000]]));
    await keeper.renewRound();
    clock.now += 5000;
    keeper.answer("n3"); // n1 grants n3 now
    clock.now += 10;
    await keeper.renewRound();
    const mirror = new LeaseMirror(TIMING, "n1");
    mirror.apply(keeper.snapshot());
    expect(mirror.expiryProven("n3", 3, 0)).toBe(false);
    // Much later, still with that snapshot: the copy does not know whether n1 granted n3 since, so
    // it proves nothing (reading the grant table's age at the mirror's "now" would prove it).
    clock.now += 60_000;
    await keeper.renewRound();
    expect(keeper.expiryProven("n3", 0)).toBe(true); // the keeper itself knows n3 stayed silent
    expect(mirror.expiryProven("n3", 3, 0)).toBe(false);
    // And an older snapshot never replaces a newer one.
    const newer = keeper.snapshot();
    mirror.apply(newer);
    expect(mirror.expiryProven("n3", 3, 0)).toBe(true);
    mirror.apply({ ...newer, at: newer.at - 60_000, lastGrants: [["n3", newer.at - 60_000]] });
    expect(mirror.takenAt).toBe(newer.at);
    expect(mirror.expiryProven("n3", 3, 0)).toBe(true);
  });

  it("renewedWithin counts the time since the snapshot as silence", () => {
    const { keeper, clock } = keeperOnClock(() => new Map());
    keeper.answer("n2");
    clock.now += 100;
    const mirror = new LeaseMirror(TIMING, "n1");
    expect(mirror.renewedWithin("n2", 1000, clock.now)).toBe(false);
    mirror.apply(keeper.snapshot());
    expect(mirror.renewedWithin("n2", 1000, clock.now)).toBe(true);
    expect(mirror.renewedWithin("n2", 1000, clock.now + 899)).toBe(true);
    expect(mirror.renewedWithin("n2", 1000, clock.now + 900)).toBe(false);
    // Never granted: silent since the keeper started (10,000), as the keeper itself counts it.
    expect(mirror.renewedWithin("n3", 1000, clock.now)).toBe(true);
    expect(mirror.renewedWithin("n3", 1000, clock.now + 900)).toBe(false);
  });
});

describe("SharedInstant", () => {
  it("carries an instant, none, and forever between two views of one buffer", () => {
    const writer = SharedInstant.create();
    const reader = new SharedInstant(writer.buffer);
    expect(reader.load()).toBeUndefined();
    writer.store(12_345.678);
    expect(reader.load()).toBeCloseTo(12_345.678, 3);
    writer.store(Number.POSITIVE_INFINITY);
    expect(reader.load()).toBe(Number.POSITIVE_INFINITY);
    writer.store(Number.NEGATIVE_INFINITY);
    expect(reader.load()).toBe(Number.NEGATIVE_INFINITY);
    writer.store(0);
    expect(reader.load()).toBe(0);
    writer.store(undefined);
    expect(reader.load()).toBeUndefined();
  });
});
