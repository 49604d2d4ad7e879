/**
 * PlacementLoop on the fakes (test/support/process-cluster.ts): the free paths of new disks go to
 * live node agents, one path of a disk per node; a crashed node's paths wait out their lock-delay
 * and go to the survivors, never up on two nodes; a node that fails an AcquirePath is excluded for
 * the path and another is chosen. The loop runs with short intervals so that each case takes
 * well under a second; the lock-delay itself is on the in-memory Consul's ManualClock.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { EventInput } from "../../src/events/event-log.js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ActiveMoves } from "../../src/assignment/active-moves.js";
import type { ClusterState, ClusterStateReader } from "../../src/assignment/assignment-stats.js";
import { NodeCallSlots } from "../../src/assignment/node-call-slots.js";
import type { NodeRpc } from "../../src/assignment/node-rpc.js";
import {
  PlacementLoop,
  type PlacementAttempt,
  type PlacementLoopOptions,
} from "../../src/coordinator/placement-loop.js";
import { createLogger } from "../../src/log/logger.js";
import { NO_METRICS, type PlacementCause } from "../../src/metrics/metrics-recorder.js";
import {
  ipsOn,
  jobServices,
  leaderTerm,
  portalsOn,
  servedTwice,
  type TestTerm,
} from "../support/coordinator-term.js";
import { PROCESS_SESSION, ProcessCluster, type ProcessNode } from "../support/process-cluster.js";
import { until } from "../support/until.js";

const signal = (): AbortSignal => AbortSignal.timeout(5000);

describe("PlacementLoop on in-memory Consul and node agents", () => {
  let cluster: ProcessCluster;
  let reader: ClusterStateReader;
  let term: TestTerm;
  let attempts: PlacementAttempt[];
  /** IPs seen up on two nodes at once, sampled at every attempt. */
  let doubles: string[];
  let running: Promise<void> | undefined;

  beforeEach(async () => {
    cluster = await ProcessCluster.start();
    ({ reader } = jobServices(cluster));
    term = await leaderTerm(cluster);
    attempts = [];
    doubles = [];
    running = undefined;
  });
  afterEach(async () => {
    term.end();
    await running;
    await cluster.close();
  });

  /** Starts the loop with short intervals; the lock-delay it assumes is short too (see the crash test). */
  function startLoop(overrides: Partial<PlacementLoopOptions> = {}): PlacementLoop {
    const started = new PlacementLoop({
      reader,
      store: jobServices(cluster).store,
      nodes: cluster.rpc,
      epoch: term.epoch,
      signal: term.signal,
      logger: cluster.logger,
      moves: new ActiveMoves(),
      slots: new NodeCallSlots(),
      lockDelayMs: 100,
      rpcTimeoutMs: 2000,
      excludeForMs: 60_000,
      resyncMs: 100,
      minIntervalMs: 20,
      onAttempt: (attempt) => {
        attempts.push(attempt);
        doubles.push(...servedTwice(cluster));
      },
      ...overrides,
    });
    running = started.run();
    return started;
  }

  async function settled(): Promise<ClusterState> {
    return await until(
      "every path served",
      async () => {
        const state = await reader.read();
        return state.paths.length > 0 && state.paths.every((path) => path.node !== "") ? state : undefined;
      },
      5000,
    );
  }

  /** The nodes serving each disk's paths, by disk id. */
  function holdersByDisk(state: ClusterState): Map<string, string[]> {
    const byDisk = new Map<string, string[]>();
    for (const path of state.paths) byDisk.set(path.diskId, [...(byDisk.get(path.diskId) ?? []), path.node]);
    return byDisk;
  }

  /** Each path's IP is up, with its portal, on its holder only. */
  function expectServedByHolders(state: ClusterState, nodes: readonly ProcessNode[]): void {
    for (const path of state.paths) {
      for (const node of nodes) {
        const here = node.name === path.node;
        expect(ipsOn(node).includes(path.ip), `${path.ip} up on ${node.name}`).toBe(here);
        expect(portalsOn(node).includes(path.ip), `${path.ip} portal on ${node.name}`).toBe(here);
      }
    }
  }

  it("logs a path it cannot place once, a summary now and then, and once when a node can take it again", async () => {
    const lines: { msg: string; ip?: string; count?: number }[] = [];
    const logger = createLogger({
      level: "info",
      destination: { write: (line: string) => lines.push(JSON.parse(line) as (typeof lines)[number]) },
    });
    const count = (msg: string): number => lines.filter((line) => line.msg === msg).length;
    startLoop({ logger, unplacedSummaryMs: 400 });
    await cluster.addDisk({ name: "nowhere", pathCount: 2 });
    // No node at all: every pass that retries the two paths (back-off 200 ms doubling) fails.
    await sleep(2000);
    expect(count("free path not placed")).toBe(2);
    const summaries = lines.filter((line) => line.msg === "free paths still not placed");
    expect(summaries.length).toBeGreaterThanOrEqual(1);
    expect(summaries.length).toBeLessThanOrEqual(5);
    expect(summaries.at(-1)).toMatchObject({ count: 2 });

    await cluster.addNode("a");
    await cluster.addNode("b");
    await settled();
    expect(count("free path can be placed again")).toBe(2);
    expect(count("free path not placed")).toBe(2);
  });

  it("places the free paths of new disks on live nodes, one path of a disk per node, with its epoch", async () => {
    const nodes = [await cluster.addNode("a"), await cluster.addNode("b"), await cluster.addNode("c")];
    const placed: { cause: PlacementCause; freeForMs: number }[] = [];
    startLoop({
      metrics: { ...NO_METRICS, pathPlaced: (cause, freeForMs) => placed.push({ cause, freeForMs }) },
    });
    const one = await cluster.addDisk({ name: "one", pathCount: 3 });
    const two = await cluster.addDisk({ name: "two", pathCount: 2 });
    const state = await settled();
    expect(state.paths).toHaveLength(5);
    const byDisk = holdersByDisk(state);
    expect(new Set(byDisk.get(one)).size).toBe(3);
    expect(new Set(byDisk.get(two)).size).toBe(2);
    // Balanced: 5 paths on 3 nodes.
    const counts = state.nodes.map((node) => node.pathCount).sort();
    expect(counts).toEqual([1, 2, 2]);
    expectServedByHolders(state, nodes);
    for (const path of state.paths) {
      const holder = cluster.node(path.node);
      expect(await cluster.lockOf(path.diskId, path.index)).toEqual({
        holder: path.node,
        session: (await holder.agent.status(0, signal())).session.id,
      });
    }
    expect(attempts.filter((attempt) => !attempt.placed)).toEqual([]);
    expect(attempts.map((attempt) => attempt.ip).sort()).toEqual(state.paths.map((path) => path.ip).sort());
    // Each placement timed once, as a new path (nobody held it before).
    expect(placed.map((entry) => entry.cause)).toEqual(["new", "new", "new", "new", "new"]);
    for (const entry of placed) expect(entry.freeForMs).toBeGreaterThanOrEqual(0);
    expect(new Set(cluster.rpc.callLog.map((call) => [call.method, call.request.epoch].join(" ")))).toEqual(
      new Set([`AcquirePath ${term.epoch}`]),
    );
    expect(doubles).toEqual([]);
  });

  it("times a placement whose AcquirePath answers after later passes already read the path as held", async () => {
    for (const name of ["a", "b"]) await cluster.addNode(name);
    const placed: PlacementCause[] = [];
    // The lock is taken early in AcquirePath; its answer comes 400 ms later (a slow set-up), while
    // passes run every ~100 ms and read the path as held.
    const slow: NodeRpc = {
      acquirePath: async (node, request, callSignal) => {
        await cluster.rpc.acquirePath(node, request, callSignal);
        await sleep(400);
      },
      cleanPath: (node, request, callSignal) => cluster.rpc.cleanPath(node, request, callSignal),
      acquirePaths: (node, request, callSignal) => cluster.rpc.acquirePaths(node, request, callSignal),
      cleanPaths: (node, request, callSignal) => cluster.rpc.cleanPaths(node, request, callSignal),
      renewLease: (node, renewal, callSignal, deadlineMs) =>
        cluster.rpc.renewLease(node, renewal, callSignal, deadlineMs),
    };
    startLoop({ nodes: slow, metrics: { ...NO_METRICS, pathPlaced: (cause) => placed.push(cause) } });
    await cluster.addDisk({ name: "one", pathCount: 2 });
    await until("both placements timed", () => (placed.length === 2 ? true : undefined), 5000);
    expect(placed).toEqual(["new", "new"]);
  });

  it("re-places a crashed node's paths on the survivors once their lock-delay is over, never on two nodes", async () => {
    for (const name of ["a", "b", "c"]) await cluster.addNode(name);
    const placed: { cause: PlacementCause; freeForMs: number }[] = [];
    const events: EventInput[] = [];
    startLoop({
      metrics: { ...NO_METRICS, pathPlaced: (cause, freeForMs) => placed.push({ cause, freeForMs }) },
      events: { record: (event) => events.push(event) },
      nodeName: "coordinator-node",
    });
    const one = await cluster.addDisk({ name: "one", pathCount: 2 });
    await cluster.addDisk({ name: "two", pathCount: 2 });
    const before = await settled();
    // The node serving path 1 of disk one crashes: Consul ends its session (its locks go into
    // lock-delay), nothing answers at its address, and its IPs are gone with it.
    const victim = before.paths.find((path) => path.diskId === one && path.index === 1)?.node ?? "";
    const dead = cluster.node(victim);
    const orphaned = before.paths.filter((path) => path.node === victim);
    const session = (await dead.agent.status(0, signal())).session.id ?? "";
    const callsAtCrash = cluster.rpc.callLog.length;
    const placedAtCrash = placed.length;
    const eventsAtCrash = events.length;
    cluster.store.consul.invalidateSession(session);
    await cluster.stopNode(victim);
    expect(ipsOn(dead)).toEqual([]);
    for (const path of orphaned) {
      expect(cluster.store.consul.inLockDelay(cluster.keys.diskPath(path.diskId, path.index))).toBe(true);
    }

    // In the lock-delay, a survivor asked to take a path is refused (held elsewhere), and it is
    // not held against that node.
    const refused = await until(
      "an AcquirePath refused in the lock-delay",
      () => attempts.find((attempt) => orphaned.some((path) => path.ip === attempt.ip) && !attempt.placed),
      5000,
    );
    expect(refused.refusal).toBe("held-elsewhere");
    expect(refused.node).not.toBe(victim);
    for (const path of orphaned)
      expect((await cluster.lockOf(path.diskId, path.index))?.session).toBeUndefined();

    cluster.store.clock.advance(PROCESS_SESSION.lockDelaySeconds * 1000 + 1);
    const after = await settled();
    const survivors = [...cluster.nodes.values()];
    expect(survivors.map((node) => node.name)).not.toContain(victim);
    for (const path of after.paths) expect(survivors.map((node) => node.name)).toContain(path.node);
    for (const [diskId, holders] of holdersByDisk(after)) {
      expect(new Set(holders).size, `disk ${diskId} on ${holders.join(", ")}`).toBe(2);
    }
    // What the survivors served before stayed where it was.
    for (const path of before.paths.filter((candidate) => candidate.node !== victim)) {
      expect(after.paths.find((candidate) => candidate.ip === path.ip)?.node).toBe(path.node);
    }
    expectServedByHolders(after, survivors);
    expect(ipsOn(dead)).toEqual([]);
    // Timed as failovers: their last holder had lost its session; free for at least the lock-delay wait.
    const failovers = placed.slice(placedAtCrash);
    expect(failovers.map((entry) => entry.cause)).toEqual(orphaned.map(() => "failover"));
    for (const entry of failovers) expect(entry.freeForMs).toBeGreaterThan(0);
    // Recorded as failovers from the dead node to the new holder, by the coordinator, with the epoch.
    expect(events.slice(0, eventsAtCrash).every((event) => event.kind === "placement")).toBe(true);
    const recorded = events.slice(eventsAtCrash);
    expect(recorded.map((event) => [event.kind, event.ip, event.from]).sort()).toEqual(
      orphaned.map((path) => ["failover", path.ip, victim]).sort(),
    );
    for (const event of recorded) {
      const now = after.paths.find((path) => path.ip === event.ip);
      expect(event).toMatchObject({
        to: now?.node,
        node: now?.node,
        diskId: now?.diskId,
        pathIndex: now?.index,
      });
      expect(event).toMatchObject({ actor: "coordinator-node", epoch: term.epoch });
      expect(event.durationMs).toBeGreaterThan(0);
    }
    // Offline (its record names a session Consul no longer has): never asked again.
    expect(cluster.rpc.callLog.slice(callsAtCrash).filter((call) => call.node === victim)).toEqual([]);
    expect(doubles).toEqual([]);
  });

  it("a node that fails to acquire a path is excluded for it and the next node is chosen", async () => {
    const a = await cluster.addNode("a");
    const b = await cluster.addNode("b");
    // Both set-up attempts on a fail (configure runs a failed set-up once more).
    a.target.faults.failNext("enablePortal", undefined, 2);
    startLoop();
    const diskId = await cluster.addDisk({ name: "one", pathCount: 1, subnet: 1 });
    const state = await settled();
    const ip = state.paths[0]?.ip ?? "";
    // Both nodes are equal for the path; ties go to the first by name.
    expect(
      attempts.map(({ ip: attemptIp, node, placed, refusal }) => ({ ip: attemptIp, node, placed, refusal })),
    ).toEqual([
      { ip, node: "a", placed: false, refusal: "failed" },
      { ip, node: "b", placed: true, refusal: undefined },
    ]);
    expect(attempts[0]?.retry?.kind).toBe("back-off");
    expect(state.paths[0]?.node).toBe("b");
    expect((await cluster.lockOf(diskId, 1))?.holder).toBe("b");
    expect(ipsOn(a)).not.toContain(ip);
    expect(ipsOn(b)).toContain(ip);
    expect(a.target.faults.callsOf("enablePortal")).toHaveLength(2);
    // Placed, the path's exclusions are forgotten: given up by b (no lock-delay), it goes to a,
    // which now wins the tie again.
    const placedBefore = attempts.length;
    await b.agent.cleanPath({ epoch: 0, target: { kind: "path", diskId, index: 1 }, jobId: "" }, signal());
    await until("the path placed again", () => (attempts.length > placedBefore ? true : undefined), 5000);
    expect(attempts.slice(placedBefore).map(({ node, placed }) => ({ node, placed }))).toEqual([
      { node: "a", placed: true },
    ]);
    expect(ipsOn(a)).toContain(ip);
    expect(ipsOn(b)).not.toContain(ip);
    expect((await cluster.lockOf(diskId, 1))?.holder).toBe("a");
    expect(doubles).toEqual([]);
  });

  it("a node whose target daemon dies hands its paths off; they go to the others at once and none comes back to it", async () => {
    const a = await cluster.addNode("a", { dataPathProbeMs: 50, dataPathUnhealthyAfterMs: 300 });
    const others = [await cluster.addNode("b"), await cluster.addNode("c")];
    const placed: PlacementCause[] = [];
    startLoop({ metrics: { ...NO_METRICS, pathPlaced: (cause) => placed.push(cause) } });
    await cluster.addDisk({ name: "one", pathCount: 3 });
    await cluster.addDisk({ name: "two", pathCount: 3 });
    const before = await settled();
    const onA = before.paths.filter((path) => path.node === "a").map((path) => path.ip);
    expect(onA.length).toBeGreaterThan(0);
    const attemptsBefore = attempts.length;
    const placedBefore = placed.length;
    a.target.external.stopService();
    const after = await until(
      "A's paths served by the others",
      async () => {
        const state = await reader.read();
        const done = state.paths.every((path) => path.node !== "" && path.node !== "a");
        return done ? state : undefined;
      },
      10_000,
    );
    expect(after.nodes.find((node) => node.name === "a")).toMatchObject({ degraded: true, pathCount: 0 });
    expect(after.nodes.find((node) => node.name === "a")?.degradedReason).toContain("does not answer");
    expectServedByHolders(after, [a, ...others]);
    // No lock-delay: released explicitly, not by a lost session.
    expect((await a.agent.status(0, signal())).session.healthy).toBe(true);
    const handedOff = attempts.slice(attemptsBefore);
    expect(
      handedOff
        .filter((attempt) => attempt.placed)
        .map((attempt) => attempt.ip)
        .sort(),
    ).toEqual([...onA].sort());
    expect(handedOff.filter((attempt) => attempt.node === "a")).toEqual([]);
    // Timed as handed off (its holder is alive and let them go), not as failovers.
    expect(placed.slice(placedBefore)).toEqual(onA.map(() => "handed-off"));
    expect(doubles).toEqual([]);
  });
});
