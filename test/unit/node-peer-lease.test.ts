/**
 * Peer leases (src/node/peer-lease.ts): the majority rule, and the safety property on thousands of
 * simulated clusters with message delays, drops, links to single peers going down and up, granter
 * restarts and clock rates off by up to ε: whenever an observer's reports prove the holder's lease
 * over since an instant V, the holder did not hold its lease at some moment after V.
 */
import { describe, expect, it } from "vitest";
import {
  coversCommonWindow,
  GrantTable,
  LeaseHolder,
  majorityOf,
  provenSilenceMs,
  SilenceEvidence,
  type PeerLeaseSettings,
  type SilenceReport,
} from "../../src/node/peer-lease.js";
import { seededRandom, type Random } from "../../src/util/seeded-random.js";

const SETTINGS: PeerLeaseSettings = { leaseMs: 1000, clockRateError: 0.01, marginMs: 50 };

describe("peer lease rules", () => {
  it("a holder needs grants from a majority counting itself: one peer of three, two of five", () => {
    expect([1, 2, 3, 4, 5].map(majorityOf)).toEqual([1, 2, 2, 3, 3]);
    const holder = new LeaseHolder(SETTINGS, "n1");
    expect(holder.validUntil(3)).toBeUndefined();
    holder.granted("n1", 500); // its own vote is implicit
    expect(holder.validUntil(3)).toBeUndefined();
    holder.granted("n2", 100);
    expect(holder.validUntil(3)).toBe(1100);
    expect(holder.holds(3, 1099)).toBe(true);
    expect(holder.holds(3, 1100)).toBe(false);
    // An older grant does not shorten the lease; a newer one extends it.
    holder.granted("n2", 50);
    expect(holder.validUntil(3)).toBe(1100);
    holder.granted("n3", 400);
    expect(holder.validUntil(3)).toBe(1400);
    // Five nodes: two peers needed, so the second newest grant bounds the lease.
    expect(holder.validUntil(5)).toBe(1100);
    holder.forget("n2");
    expect(holder.validUntil(5)).toBeUndefined();
    expect(new LeaseHolder(SETTINGS, "solo").validUntil(1)).toBe(Number.POSITIVE_INFINITY);
  });

  it("proves expiry only when a majority's silences cover one common stretch as long as a lease, stretched by ε and the margin", () => {
    const needed = provenSilenceMs(SETTINGS);
    expect(needed).toBeCloseTo((1000 * 1.01) / 0.99 + 50, 6);
    const shrink = 0.99 / 1.01;
    // A report answered at t = 10,000 with a silence s covers [10,000 − s × shrink, askedAt].
    const report = (silentForMs: number, askedAt = 10_000): SilenceReport => ({
      silentForMs,
      askedAt,
      answeredAt: 10_000,
    });
    const enough = Math.ceil(needed / shrink);
    expect(coversCommonWindow([report(enough), report(enough)], 2, 0, SETTINGS)).toBe(true);
    expect(coversCommonWindow([report(enough), report(enough - 5)], 2, 0, SETTINGS)).toBe(false);
    expect(coversCommonWindow([report(enough * 10)], 2, 0, SETTINGS)).toBe(false);
    // Asked for before `notBefore`: it does not count.
    expect(coversCommonWindow([report(enough), report(enough, 9000)], 2, 9500, SETTINGS)).toBe(false);
    // Two long silences that do not overlap (one peer was silent earlier, asked long ago) prove nothing.
    const early: SilenceReport = { silentForMs: enough, askedAt: 7000, answeredAt: 7000 };
    expect(coversCommonWindow([early, report(enough)], 2, 0, SETTINGS)).toBe(false);
    expect(coversCommonWindow([early, report(enough + 4000)], 2, 0, SETTINGS)).toBe(true);

    const evidence = new SilenceEvidence(SETTINGS);
    evidence.record("p1", "n", report(enough));
    expect(evidence.proven("n", 3, 0)).toBe(false);
    const own = new Map([["p2", report(enough)]]);
    expect(evidence.proven("n", 3, 0, own)).toBe(true);
    // The subject's own word never counts; an older report does not replace a newer one.
    expect(evidence.proven("n", 3, 0, new Map([["n", report(enough)]]))).toBe(false);
    evidence.record("p1", "n", report(0, 9000));
    expect(evidence.proven("n", 3, 0, own)).toBe(true);
    evidence.record("p1", "n", report(0, 10_000));
    expect(evidence.proven("n", 3, 0, own)).toBe(false);
    evidence.forget("p1");
    expect(evidence.about("n").size).toBe(0);

    // A granter that never granted counts its silence from its own start.
    const table = new GrantTable(7000);
    expect(table.silentFor("n1", 7500)).toBe(500);
    table.grant("n1", 7600);
    expect(table.silentFor("n1", 9000)).toBe(1400);
  });
});

interface Clock {
  readonly rate: number;
  readonly offset: number;
}

interface SimulatedPeer extends Clock {
  readonly name: string;
  table: GrantTable;
  /** Real-time stretches when the holder's link to this peer is down. */
  readonly outages: readonly (readonly [number, number])[];
}

/** How an observer turns reports into a proof; the real rule, or a naive one the tests show unsafe. */
type ProofRule = (
  evidence: SilenceEvidence,
  own: SilenceReport,
  size: number,
  notBefore: number,
  now: number,
) => boolean;

const REAL_RULE: ProofRule = (evidence, own, size, notBefore) =>
  evidence.proven("h", size, notBefore, new Map([["p0", own]]));

/** Naive: each reporter's newest silence, grown by the time since its answer, as if it still held. */
function naiveRule(settings: PeerLeaseSettings): ProofRule {
  return (evidence, own, size, _notBefore, now) => {
    let silent = own.silentForMs >= provenSilenceMs(settings) ? 1 : 0;
    for (const [reporter, report] of evidence.about("h")) {
      if (reporter === "p0") continue;
      if (report.silentForMs + (now - report.answeredAt) >= provenSilenceMs(settings)) silent++;
    }
    return silent >= majorityOf(size);
  };
}

/**
 * One simulated cluster: the holder h renews with every peer; its link to each peer goes down and up
 * on its own; the observer p0 asks the other peers for their silences as the coordinator does, and
 * checks every 5 ms for a proof since `lag` ago. A violation is a proof while h held its lease
 * throughout the stretch since then.
 */
function simulate(
  random: Random,
  rules: PeerLeaseSettings = SETTINGS,
  epsilon = SETTINGS.clockRateError,
  rule: ProofRule = REAL_RULE,
): { samples: number; violations: number; proofs: number } {
  const size = random() < 0.5 ? 3 : 5;
  const clock = (): Clock => ({ rate: 1 - epsilon + random() * 2 * epsilon, offset: random() * 1e6 });
  const local = (node: Clock, t: number): number => node.offset + node.rate * t;
  const endAt = 12_000;
  const outages = (): [number, number][] =>
    Array.from({ length: Math.floor(random() * 4) }, () => {
      const from = random() * endAt;
      return [from, from + 300 + random() * 3000];
    });
  const down = (peer: SimulatedPeer, t: number): boolean =>
    peer.outages.some(([from, to]) => t >= from && t < to);
  const holderClock = clock();
  const holder = new LeaseHolder(rules, "h");
  // Most runs also cut the holder off from every peer at once for a while (or for good).
  const cutFrom = 2000 + random() * 6000;
  const cutOff: [number, number][] =
    random() < 0.8 ? [[cutFrom, random() < 0.5 ? endAt : cutFrom + 500 + random() * 4000]] : [];
  const peers: SimulatedPeer[] = Array.from({ length: size - 1 }, (_, index) => {
    const c = clock();
    return {
      name: `p${index}`,
      ...c,
      table: new GrantTable(local(c, 0)),
      outages: [...outages(), ...cutOff],
    };
  });
  const observer = peers[0];
  if (observer === undefined) throw new Error("no observer");
  const evidence = new SilenceEvidence(rules);
  const dropRate = random() * 0.3;
  const maxDelay = 20 + random() * 400;
  const heartbeat = 100 + random() * 300;
  const lag = 400 + random() * 1200;
  // Pending deliveries in real time, kept sorted: a delivery may schedule another (the answer).
  const events: { at: number; run: () => void }[] = [];
  const schedule = (at: number, run: () => void): void => {
    let low = 0;
    let high = events.length;
    while (low < high) {
      const middle = (low + high) >> 1;
      if ((events[middle]?.at ?? 0) <= at) low = middle + 1;
      else high = middle;
    }
    events.splice(low, 0, { at, run });
  };
  for (let sent = 0; sent < endAt; sent += heartbeat * (0.8 + random() * 0.4)) {
    const sentAt = local(holderClock, sent);
    for (const peer of peers) {
      if (random() < dropRate || down(peer, sent)) continue;
      const arrives = sent + random() * maxDelay;
      schedule(arrives, () => {
        if (down(peer, arrives)) return;
        peer.table.grant("h", local(peer, arrives));
        const back = arrives + random() * maxDelay;
        if (random() < dropRate || down(peer, back)) return;
        schedule(back, () => holder.granted(peer.name, sentAt));
      });
    }
  }
  // The observer asks the other peers on its own heartbeat; its links to them stay up.
  for (let asked = 0; asked < endAt; asked += heartbeat * (0.8 + random() * 0.4)) {
    const askedAt = local(observer, asked);
    for (const peer of peers.slice(1)) {
      if (random() < dropRate) continue;
      const arrives = asked + random() * maxDelay;
      schedule(arrives, () => {
        const silentForMs = peer.table.silentFor("h", local(peer, arrives));
        const back = arrives + random() * maxDelay;
        if (random() < dropRate) return;
        schedule(back, () =>
          evidence.record(peer.name, "h", { silentForMs, askedAt, answeredAt: local(observer, back) }),
        );
      });
    }
  }
  // Granters restart now and then: their table starts afresh.
  for (const peer of peers) {
    if (random() < 0.3) {
      const at = random() * endAt;
      schedule(at, () => (peer.table = new GrantTable(local(peer, at))));
    }
  }
  let samples = 0;
  let violations = 0;
  let proofs = 0;
  let lastNotHolding = Number.NEGATIVE_INFINITY;
  for (let t = 0; t <= endAt; t += 5) {
    while ((events[0]?.at ?? Number.POSITIVE_INFINITY) <= t) events.shift()?.run();
    if (!holder.holds(size, local(holderClock, t))) lastNotHolding = t;
    const now = local(observer, t);
    const own = { silentForMs: observer.table.silentFor("h", now), askedAt: now, answeredAt: now };
    const proven = rule(evidence, own, size, local(observer, t - lag), now);
    samples++;
    if (proven) proofs++;
    if (proven && lastNotHolding < t - lag) violations++;
  }
  return { samples, violations, proofs };
}

describe("peer lease safety, simulated", () => {
  it("never proves a lease over since V while the holder held it throughout since V (800 clusters; PEER_LEASE_RUNS for more)", () => {
    const runs = Number(process.env.PEER_LEASE_RUNS ?? "800");
    let violations = 0;
    let proofs = 0;
    let samples = 0;
    for (let seed = 1; seed <= runs; seed++) {
      const result = simulate(seededRandom(seed));
      violations += result.violations;
      proofs += result.proofs;
      samples += result.samples;
    }
    expect(violations).toBe(0);
    // The simulation is not vacuous: links go down in most runs, and proofs follow.
    expect(proofs).toBeGreaterThan(samples / 20);
  });

  it("finds violations when the rules ignore clocks running 5 % off (the check can fail)", () => {
    const naive: PeerLeaseSettings = { leaseMs: 1000, clockRateError: 0, marginMs: 0 };
    let violations = 0;
    for (let seed = 1; seed <= 2000 && violations === 0; seed++) {
      violations += simulate(seededRandom(seed), naive, 0.05).violations;
    }
    expect(violations).toBeGreaterThan(0);
  });

  it("finds violations when silences reported at different times are added up as if they overlapped", () => {
    let violations = 0;
    for (let seed = 1; seed <= 2000 && violations === 0; seed++) {
      violations += simulate(
        seededRandom(seed),
        SETTINGS,
        SETTINGS.clockRateError,
        naiveRule(SETTINGS),
      ).violations;
    }
    expect(violations).toBeGreaterThan(0);
  });
});
