import { cleanUpAll } from "../support/clean-up.js";
import { kvOf, sessionsOf } from "../support/consul-stores.js";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConsulClient } from "../../src/consul/consul-client.js";
import { ConsulKeys } from "../../src/consul/keys.js";
import { Election, type Term } from "../../src/coordinator/election.js";
import { readLeader } from "../../src/coordinator/leader-record.js";
import { createLogger } from "../../src/log/logger.js";
import { startConsulHarness, type ConsulHarness } from "../harness/consul.js";
import { until } from "../support/until.js";

const ELECTION_WAIT = { timeoutMs: 10_000, intervalMs: 25 };

interface Candidate {
  name: string;
  election: Election;
  terms: Term[];
}

describe("coordinator election on a real Consul agent", () => {
  let consul: ConsulHarness;
  let client: ConsulClient;
  const keys = new ConsulKeys(`ElectionTest${process.pid}`);
  const logger = createLogger({ level: "silent" });
  const candidates: Candidate[] = [];

  function candidate(name: string, lockDelaySeconds: number): Candidate {
    const terms: Term[] = [];
    const election = new Election({
      kv: kvOf(client),
      sessions: sessionsOf(client),
      keys,
      record: { node: name, address: `127.0.0.1:${7000 + candidates.length}` },
      ttlSeconds: 10,
      lockDelaySeconds,
      fenceDeadlineMs: 3000,
      logger,
      retryMs: 200,
      lead: async (term) => {
        terms.push(term);
        await new Promise((resolve) => term.signal.addEventListener("abort", resolve, { once: true }));
      },
    });
    const made = { name, election, terms };
    candidates.push(made);
    election.start();
    return made;
  }

  const leaders = (): Candidate[] => candidates.filter((c) => c.election.term !== undefined);

  beforeAll(async () => {
    consul = await startConsulHarness("coordinator-election");
    client = new ConsulClient({ address: consul.agent.httpAddress });
  });
  afterAll(async () => {
    await cleanUpAll(
      () => Promise.all(candidates.map((c) => c.election.stop())),
      () => client.close(),
      () => consul.stop(),
    );
  });

  it("elects exactly one of three; on stop the leader releases and another leads at once with a higher epoch", async () => {
    // A 30 s lock-delay: a takeover within the 10 s wait below proves the lock was released, not
    // left to expire.
    const group = [candidate("a", 30), candidate("b", 30), candidate("c", 30)];
    const first = await until(
      "an election",
      () => (leaders().length > 0 ? leaders() : undefined),
      ELECTION_WAIT,
    );
    await sleep(300);
    expect(leaders()).toHaveLength(1);
    const leader = first[0];
    if (leader === undefined) throw new Error("no leader");
    const firstTerm = leader.election.term;
    expect(firstTerm?.epoch).toBeGreaterThan(0);
    expect(await readLeader(kvOf(client), keys)).toMatchObject({
      node: leader.name,
      epoch: firstTerm?.epoch,
    });

    await leader.election.stop();
    expect(firstTerm?.signal.aborted).toBe(true);
    const next = await until(
      "a takeover",
      () => group.find((c) => c !== leader && c.election.term !== undefined),
      ELECTION_WAIT,
    );
    const nextTerm = next.election.term;
    expect(nextTerm?.epoch).toBeGreaterThan(firstTerm?.epoch ?? Infinity);
    expect(await readLeader(kvOf(client), keys)).toMatchObject({ node: next.name, epoch: nextTerm?.epoch });
    expect(group.filter((c) => c.election.term !== undefined)).toHaveLength(1);
  });

  it("a leader whose lock is taken from it (session destroyed) steps down; a follower leads after the lock-delay", async () => {
    const current = await until("a leader", () => leaders()[0], ELECTION_WAIT);
    const term = current.election.term;
    if (term === undefined) throw new Error("no term");
    // Another party ends the leader's session, as Consul does when its node fails.
    await client.call("session.destroy", {}, (raw, common) =>
      raw.session.destroy({ ...common, id: term.session }),
    );
    await until("the step-down", () => (term.signal.aborted ? true : undefined), ELECTION_WAIT);
    // lock-delay is 30 s for these candidates: nobody may lead before it passes.
    await sleep(1000);
    const others = leaders().filter((c) => c.election.term?.session !== term.session);
    for (const other of others) expect(other.election.term?.epoch).toBeGreaterThan(term.epoch);
  });
});
