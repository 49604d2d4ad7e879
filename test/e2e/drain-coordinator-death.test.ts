/**
 * End to end, one 4-node dev cluster (issue #14 item 7): the coordinator is killed (a power-off:
 * sanpathd, its Consul server and tgtd) in the middle of a drain while moves of the drain are
 * planned to it. The next coordinator resumes the job, gives each move aimed at the dead node
 * another target by the drain's rule (never the drained node), and the drain succeeds: nothing is
 * left on the drained node, every path is served by one live node and reads from the client. An
 * address sampler reads `ip -j addr` in every node namespace every 5 ms throughout: no IP may ever
 * be up on two nodes.
 */
import { describe, expect, it } from "vitest";
import { JobState, MoveStatus, PathPhase, type Reassignment } from "../../src/gen/sanpath/v1/assignment.js";
import type { PathView } from "../../src/devcluster/client-reads.js";
import {
  addDisk,
  cordonNode,
  drainNode,
  getJob,
  jobEvents,
  uncordonNode,
  waitForJob,
  waitUntilPlaced,
  withAdmin,
} from "../../src/devcluster/cluster-ops.js";
import {
  addressesOn,
  currentPaths,
  electedCoordinator,
  expectEveryPathReads,
  expectSafeAndServed,
  expectSucceeded,
  sampleAddresses,
  settledCoordinator,
  useE2eCluster,
} from "./support.js";
import { until } from "../support/until.js";

const NODES = ["node1", "node2", "node3", "node4"];
/** Single-path disks, all on the drained node: with one move at a time the drain takes seconds. */
const PATHS = 9;
/** Failure detection + lock-delay (5 s) + election + placement, with a wide margin for a busy machine. */
const FAILOVER_BOUND_MS = 30_000;

const ipOf = (move: Reassignment["moves"][number]): string => move.move?.ip ?? "";
const targetOf = (move: Reassignment["moves"][number]): string => move.move?.targetNode ?? "";

describe("the coordinator dies mid-drain with moves aimed at it (4-node dev cluster)", () => {
  const dev = useE2eCluster("drain-kill", { nodes: NODES.length });
  const current = (): Promise<PathView[]> => currentPaths(dev());

  it("the new coordinator re-plans the moves aimed at the dead one, and the drain succeeds", async () => {
    const leader = await settledCoordinator(dev());
    const drained = NODES.find((node) => node !== leader);
    if (drained === undefined) throw new Error("no node to drain");
    const receivers = NODES.filter((node) => node !== drained);
    const survivors = receivers.filter((node) => node !== leader);

    // Set-up: every path on the drained node (the others cordoned while the disks are added), so
    // the drain spreads its moves over the three others, the coordinator among them.
    const placed = await withAdmin(dev(), async (admin) => {
      for (const node of receivers) await cordonNode(admin, node);
      for (let disk = 1; disk <= PATHS; disk++)
        await addDisk(admin, { name: `d${disk}`, paths: 1, subnet: disk % 2 === 0 ? "2" : "1" });
      const paths = await waitUntilPlaced(admin, { timeoutMs: 60_000, expectCount: PATHS });
      for (const node of receivers) await uncordonNode(admin, node);
      return paths;
    });
    expect(placed.filter((path) => path.node !== drained)).toEqual([]);

    const sampler = sampleAddresses(dev());
    try {
      const job = await withAdmin(dev(), (admin) => drainNode(admin, drained, 1));
      expect(job.moves).toHaveLength(PATHS);
      const aimedAtLeader = job.moves.filter((move) => targetOf(move) === leader).map(ipOf);
      expect(aimedAtLeader.length).toBeGreaterThanOrEqual(2);
      expect(job.moves.every((move) => receivers.includes(targetOf(move)))).toBe(true);

      // Mid-drain: a move to the coordinator has succeeded (so it dies serving a path), and another
      // one aimed at it has not started.
      const atKill = await until(
        "a first move to the coordinator succeeds",
        async () => {
          const seen = await withAdmin(dev(), (admin) => getJob(admin, job.id));
          const toLeader = seen.moves.filter((move) => targetOf(move) === leader);
          return toLeader.some((move) => move.status === MoveStatus.MOVE_STATUS_SUCCEEDED) ? seen : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 20 },
      );
      expect(JobState[atKill.state]).toBe("JOB_STATE_RUNNING");
      const pendingAtLeader = atKill.moves
        .filter((move) => targetOf(move) === leader && move.status === MoveStatus.MOVE_STATUS_PENDING)
        .map(ipOf);
      expect(pendingAtLeader.length).toBeGreaterThan(0);
      // The scenario needs the coordinator to be the node that dies.
      expect(await electedCoordinator(dev())).toBe(leader);
      await dev().kill(leader);

      const done = await waitForJob(dev(), job.id, 150_000);
      expectSucceeded(done);
      expect(done.totals?.succeeded).toBe(PATHS);
      expect(await electedCoordinator(dev())).not.toBe(leader);

      // Each move aimed at the dead coordinator either ended there before it died, or was given a
      // surviving node with a "queued" event saying so; one that had not started was re-planned.
      const events = await withAdmin(dev(), (admin) => jobEvents(admin, job.id));
      const pathEvents = events.flatMap((event) => (event.path === undefined ? [] : [event.path]));
      const replans = pathEvents.filter(
        (event) => event.phase === PathPhase.PATH_PHASE_QUEUED && event.reason !== "",
      );
      const finalTarget = (ip: string): string =>
        done.moves.find((move) => ipOf(move) === ip)?.move?.targetNode ?? "";
      const servedByLeader = (ip: string): boolean =>
        pathEvents.some(
          (event) =>
            event.ip === ip && event.phase === PathPhase.PATH_PHASE_SERVING && event.targetNode === leader,
        );
      for (const ip of aimedAtLeader) {
        // Ended there: its SERVING event, or only the coordinator's node marking its record
        // succeeded (the coordinator died before writing the event); never re-planned, so its
        // final target is still the dead coordinator.
        if (servedByLeader(ip) || finalTarget(ip) === leader) continue;
        const replan = replans.filter((event) => event.ip === ip);
        expect({ ip, replans: replan.map((event) => event.reason.replace(/^.*: /, "")) }).toEqual({
          ip,
          replans: [`re-planned from ${leader} to ${finalTarget(ip)}`],
        });
        expect(replan[0]?.reason).toContain(`target node ${leader} is offline`);
        expect(survivors).toContain(finalTarget(ip));
      }
      // The drain deals its moves to the three nodes in turn, so two others run between two moves
      // to the coordinator: the kill lands before the next one pending at the check starts.
      const replanned = new Set(replans.map((event) => event.ip));
      expect(pendingAtLeader.filter((ip) => replanned.has(ip)).length).toBeGreaterThan(0);
      expect(replans.every((event) => survivors.includes(event.targetNode))).toBe(true);

      // Nothing on the drained node or the dead one; every path on one live node, and it reads. The
      // job may finish before the dead coordinator's own paths are placed (its lease proven over).
      await withAdmin(dev(), (admin) =>
        waitUntilPlaced(admin, { timeoutMs: FAILOVER_BOUND_MS, expectCount: PATHS }),
      );
      const after = await current();
      expect(after.map((path) => path.ip).sort()).toEqual(placed.map((path) => path.ip).sort());
      expect(after.filter((path) => !survivors.includes(path.node))).toEqual([]);
      // Read first: a path's lock is taken before its node configures it (the IP comes ~0.3 s
      // later), and a path that reads is up; then each must be up on its one node only.
      await expectEveryPathReads(dev(), after);
      await sampler.nextRound();
      expect(addressesOn(sampler, drained)).toEqual([]);
      expect(addressesOn(sampler, leader)).toEqual([]);
      for (const path of after)
        expect({ ip: path.ip, on: sampler.holders().get(path.ip) }).toEqual({ ip: path.ip, on: [path.node] });
    } finally {
      expectSafeAndServed(await sampler.stop(), FAILOVER_BOUND_MS);
    }
  }, 300_000);
});
