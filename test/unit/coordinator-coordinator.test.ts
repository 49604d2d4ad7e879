/**
 * Coordinator.lead under an Election on the fakes (test/support/process-cluster.ts): elected, it
 * places the paths of new disks and runs stored jobs with its term's epoch; when Consul ends its
 * session it steps down (its term's signal aborts) and calls nodes no more; another Election takes
 * over with a higher epoch and carries on, and the nodes refuse the old epoch from then on. The
 * same is checked against a real Consul by test/integration/coordinator-failover.test.ts.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { ClusterState, ClusterStateReader } from "../../src/assignment/assignment-stats.js";
import type { JobStore } from "../../src/assignment/job-store.js";
import type { ReassignmentService } from "../../src/assignment/reassignment-service.js";
import { Coordinator } from "../../src/coordinator/coordinator.js";
import { Election, type Term } from "../../src/coordinator/election.js";
import { readLeader } from "../../src/coordinator/leader-record.js";
import { SanpathError } from "../../src/errors/sanpath-error.js";
import { endpointOf, ipsOn, jobServices, servedTwice } from "../support/coordinator-term.js";
import { PROCESS_SESSION, ProcessCluster } from "../support/process-cluster.js";
import { rejectionAs } from "../support/thrown.js";
import { until } from "../support/until.js";

const signal = (): AbortSignal => AbortSignal.timeout(5000);

describe("Coordinator under an Election on in-memory Consul and node agents", () => {
  let cluster: ProcessCluster;
  let reader: ClusterStateReader;
  let store: JobStore;
  let service: ReassignmentService;
  let elections: Election[];

  beforeEach(async () => {
    cluster = await ProcessCluster.start();
    ({ reader, store, service } = jobServices(cluster));
    elections = [];
  });
  afterEach(async () => {
    await Promise.all(elections.map((election) => election.stop()));
    await cluster.close();
  });

  /** The coordinator parts of one sanpathd (as server/ wires them), elected on the in-memory Consul. */
  function startHost(name: string): Election {
    const { kv, sessions } = cluster.store;
    const coordinator = new Coordinator({
      kv,
      sessions,
      keys: cluster.keys,
      reader,
      store,
      nodes: cluster.rpc,
      logger: cluster.logger,
      rpcTimeoutMs: 2000,
    });
    const election = new Election({
      kv,
      sessions,
      keys: cluster.keys,
      record: { node: name, address: `${name}.test:7410` },
      ttlSeconds: PROCESS_SESSION.ttlSeconds,
      lockDelaySeconds: PROCESS_SESSION.lockDelaySeconds,
      fenceDeadlineMs: 900,
      retryMs: 50,
      logger: cluster.logger,
      lead: (term) => coordinator.lead(term),
    });
    elections.push(election);
    election.start();
    return election;
  }

  const elected = (election: Election): Promise<Term> =>
    until("a term", () => election.term, { timeoutMs: 5000, intervalMs: 10 });

  async function settled(count: number): Promise<ClusterState> {
    return await until(
      `${count} paths served`,
      async () => {
        const state = await reader.read();
        return state.paths.length === count && state.paths.every((path) => path.node !== "")
          ? state
          : undefined;
      },
      5000,
    );
  }

  const epochsCalled = (from = 0): number[] => [
    ...new Set(cluster.rpc.callLog.slice(from).map((call) => call.request.epoch)),
  ];

  it("leads: places new disks' paths and runs a stored job, every call with its epoch", async () => {
    const a = await cluster.addNode("a");
    const b = await cluster.addNode("b");
    const term = await elected(startHost("x"));
    expect(await readLeader(cluster.kv, cluster.keys)).toMatchObject({
      node: "x",
      epoch: term.epoch,
      session: term.session,
    });
    const diskId = await cluster.addDisk({ name: "one", pathCount: 2 });
    const state = await settled(2);
    expect(new Set(state.paths.map((path) => path.node))).toEqual(new Set(["a", "b"]));

    // A node joins (no path placed: nothing is free) and a manual job moves path 1 onto it.
    const c = await cluster.addNode("c");
    const path1 = state.paths.find((path) => path.index === 1);
    const job = await service.start({
      spec: { mode: "manual", ips: [path1?.ip ?? ""], targetNode: "c" },
      stateIndex: 0,
      parallelism: 1,
      startedBy: "test",
    });
    const finished = await until(
      "the job to finish",
      async () => {
        const now = await store.get(job.header.id);
        return now.header.finishTime === undefined ? undefined : now;
      },
      5000,
    );
    expect(finished.header.state).toBe("succeeded");
    expect(finished.moves.map((move) => [move.sourceNode, move.targetNode, move.status])).toEqual([
      [path1?.node, "c", "succeeded"],
    ]);
    expect((await cluster.lockOf(diskId, 1))?.holder).toBe("c");
    expect(ipsOn(c)).toContain(path1?.ip);
    expect([...ipsOn(a), ...ipsOn(b)]).not.toContain(path1?.ip);
    expect((await cluster.lockOf(diskId, 2))?.holder).toBe(
      state.paths.find((path) => path.index === 2)?.node,
    );
    expect(epochsCalled()).toEqual([term.epoch]);
    expect(servedTwice(cluster)).toEqual([]);
  });

  it("steps down when Consul ends its session; another takes over with a higher epoch, the old one refused", async () => {
    await cluster.addNode("a");
    const b = await cluster.addNode("b");
    const first = startHost("x");
    const firstTerm = await elected(first);
    await cluster.addDisk({ name: "one", pathCount: 2 });
    await settled(2);
    const second = startHost("y");

    // Consul ends the leader's session (its node failed a check): it steps down at once.
    cluster.store.consul.invalidateSession(firstTerm.session);
    await until("the first term to end", () => (firstTerm.signal.aborted ? true : undefined), 5000);
    const callsAtStepDown = cluster.rpc.callLog.length;
    // It stays down (as a crashed daemon would) and the lock-delay of its session passes.
    await first.stop();
    expect(first.term).toBeUndefined();
    expect(second.term).toBeUndefined();
    cluster.store.clock.advance(PROCESS_SESSION.lockDelaySeconds * 1000 + 1);
    const secondTerm = await elected(second);
    expect(secondTerm.epoch).toBeGreaterThan(firstTerm.epoch);
    expect(await readLeader(cluster.kv, cluster.keys)).toMatchObject({ node: "y", epoch: secondTerm.epoch });

    // The new coordinator places a new disk, with its own epoch only.
    const two = await cluster.addDisk({ name: "two", pathCount: 2 });
    const state = await settled(4);
    expect(new Set(state.paths.filter((path) => path.diskId === two).map((path) => path.node))).toEqual(
      new Set(["a", "b"]),
    );
    expect(epochsCalled(callsAtStepDown)).toEqual([secondTerm.epoch]);
    expect(servedTwice(cluster)).toEqual([]);

    // A node it called refuses the old coordinator's epoch, and its fenced writes fail.
    const stale = await rejectionAs(
      SanpathError,
      cluster.rpc.acquirePath(endpointOf(b), { epoch: firstTerm.epoch, diskId: two, index: 1 }, signal()),
    );
    expect(stale.reason).toBe("STALE_EPOCH");
    const fenced = await rejectionAs(
      SanpathError,
      store.fenced({ lockKey: firstTerm.lockKey, session: firstTerm.session }, [
        { verb: "set", key: cluster.keys.assignmentRoot(), value: "{}" },
      ]),
    );
    expect(fenced.reason).toBe("NO_LEADER");
  });

  it("steps down when its lock is gone while its session lives, and is elected again with a higher epoch", async () => {
    await cluster.addNode("a");
    const election = startHost("x");
    const firstTerm = await elected(election);
    // The lock is released behind its back (an explicit release: no lock-delay); its session lives.
    expect(await cluster.kv.release(cluster.keys.coordinatorLock(), firstTerm.session, "")).toBe(true);
    await until("the first term to end", () => (firstTerm.signal.aborted ? true : undefined), 5000);
    const next = await until(
      "a new term",
      () => {
        const term = election.term;
        return term !== undefined && term !== firstTerm ? term : undefined;
      },
      5000,
    );
    expect(next.epoch).toBeGreaterThan(firstTerm.epoch);
    await cluster.addDisk({ name: "one", pathCount: 1 });
    await settled(1);
    expect(epochsCalled()).toEqual([next.epoch]);
  });
});
