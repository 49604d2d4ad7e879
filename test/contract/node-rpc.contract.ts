/**
 * The NodeRpc contract: what the coordinator's code may rely on when it calls a node (success,
 * the node's refusals with their reason, no address, nobody answering, the deadline, the caller
 * giving up). Run against GrpcNodeRpc over real gRPC servers (test/integration) and against
 * InProcessNodeRpc (test/unit), both in front of node agents of a ProcessCluster.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { NodeEndpoint, NodeRpc } from "../../src/assignment/node-rpc.js";
import { SanpathError } from "../../src/errors/sanpath-error.js";
import type { LeaseTiming } from "../../src/node/peer-lease-keeper.js";
import { ProcessCluster } from "../support/process-cluster.js";
import { rejectionAs } from "../support/thrown.js";
import { until } from "../support/until.js";

/** The RPC under test in front of a ProcessCluster's nodes. */
export interface NodeRpcFixture {
  readonly rpc: NodeRpc;
  /** Where node `name` is reached through `rpc`. */
  endpoint(name: string): NodeEndpoint;
  /** Nothing answers at node `name`'s endpoint any more. */
  stopAnswering(name: string): Promise<void>;
  close(): Promise<void>;
}

/** Peer leases of the contract's nodes: renewed in process, often enough for a slow machine. */
const CONTRACT_LEASE: LeaseTiming = {
  heartbeatMs: 100,
  leaseMs: 3000,
  teardownBudgetMs: 500,
  clockRateError: 0.01,
  marginMs: 50,
};

/** Deadline every fixture must give its calls, short enough for the deadline case. */
export const CONTRACT_DEADLINE_MS = 400;

export function nodeRpcContract(
  name: string,
  makeFixture: (cluster: ProcessCluster) => Promise<NodeRpcFixture>,
): void {
  describe(`NodeRpc contract: ${name}`, () => {
    let cluster: ProcessCluster;
    let fixture: NodeRpcFixture;
    let diskId: string;

    beforeEach(async () => {
      cluster = await ProcessCluster.start("NodeRpcContract", { rpcDeadlineMs: CONTRACT_DEADLINE_MS });
      // With peer leases, renewing with each other in process: RenewLease has grants to carry.
      await cluster.addNode("a", { lease: CONTRACT_LEASE });
      await cluster.addNode("b", { lease: CONTRACT_LEASE });
      diskId = await cluster.addDisk();
      fixture = await makeFixture(cluster);
    });
    afterEach(async () => {
      await fixture.close();
      await cluster.close();
    });

    const signal = (): AbortSignal => AbortSignal.timeout(5000);

    it("AcquirePath and CleanPath do what the node does and resolve", async () => {
      await fixture.rpc.acquirePath(fixture.endpoint("a"), { epoch: 1, diskId, index: 1 }, signal());
      expect((await cluster.lockOf(diskId, 1))?.holder).toBe("a");
      expect(cluster.node("a").journal.get(`${diskId}/1`)?.state).toBe("served");
      await fixture.rpc.cleanPath(fixture.endpoint("a"), { epoch: 1, diskId, index: 1 }, signal());
      expect((await cluster.lockOf(diskId, 1))?.session).toBeUndefined();
      expect(cluster.node("a").journal.get(`${diskId}/1`)).toBeUndefined();
    });

    it("AcquirePaths and CleanPaths do each path, one outcome per path in order; a refusal stops no other", async () => {
      await fixture.rpc.acquirePath(fixture.endpoint("b"), { epoch: 1, diskId, index: 2 }, signal());
      const paths = [
        { diskId, index: 1 },
        { diskId, index: 2 },
      ];
      const acquired = await fixture.rpc.acquirePaths(fixture.endpoint("a"), { epoch: 1, paths }, signal());
      expect(acquired.map(({ diskId: id, index }) => `${id}/${index}`)).toEqual([
        `${diskId}/1`,
        `${diskId}/2`,
      ]);
      expect(acquired[0]?.error).toBeUndefined();
      expect(acquired[1]?.error).toMatchObject({
        kind: "failed_precondition",
        reason: "PATH_HELD_ELSEWHERE",
      });
      expect(acquired[1]?.error?.message).toContain(`AcquirePath of ${diskId}/2 on a`);
      expect((await cluster.lockOf(diskId, 1))?.holder).toBe("a");
      expect((await cluster.lockOf(diskId, 2))?.holder).toBe("b");
      const cleaned = await fixture.rpc.cleanPaths(fixture.endpoint("a"), { epoch: 1, paths }, signal());
      expect(cleaned.map((outcome) => outcome.error)).toEqual([undefined, undefined]);
      expect((await cluster.lockOf(diskId, 1))?.session).toBeUndefined();
      expect((await cluster.lockOf(diskId, 2))?.holder).toBe("b");
      expect(cluster.node("a").journal.get(`${diskId}/1`)).toBeUndefined();
    });

    it("a batch with a stale epoch, no path, or a path twice fails as a whole and does nothing", async () => {
      await fixture.rpc.acquirePath(fixture.endpoint("a"), { epoch: 3, diskId, index: 1 }, signal());
      const stale = await rejectionAs(
        SanpathError,
        fixture.rpc.cleanPaths(fixture.endpoint("a"), { epoch: 2, paths: [{ diskId, index: 1 }] }, signal()),
      );
      expect(stale).toMatchObject({ kind: "aborted", reason: "STALE_EPOCH" });
      expect(stale.message).toContain("CleanPaths on a");
      expect((await cluster.lockOf(diskId, 1))?.holder).toBe("a");
      const empty = await rejectionAs(
        SanpathError,
        fixture.rpc.acquirePaths(fixture.endpoint("b"), { epoch: 3, paths: [] }, signal()),
      );
      expect(empty).toMatchObject({ kind: "invalid_argument", reason: "INVALID_FIELD" });
      const twice = await rejectionAs(
        SanpathError,
        fixture.rpc.acquirePaths(
          fixture.endpoint("b"),
          {
            epoch: 3,
            paths: [
              { diskId, index: 2 },
              { diskId, index: 2 },
            ],
          },
          signal(),
        ),
      );
      expect(twice.message).toContain("twice");
      expect((await cluster.lockOf(diskId, 2))?.session).toBeUndefined();
    });

    it("RenewLease carries the node's grant and its silences, by node", async () => {
      const grant = await fixture.rpc.renewLease(fixture.endpoint("b"), { node: "a" }, signal(), 1000);
      expect(grant.node).toBe("b");
      expect(grant.granted).toBe(true);
      expect([...grant.silences.keys()]).toEqual(["a"]);
      expect(grant.silences.get("a")).toBe(0);
      // A node that never renewed here: silent since b started, and granted now.
      const stranger = await fixture.rpc.renewLease(fixture.endpoint("a"), { node: "z" }, signal(), 1000);
      expect(stranger.granted).toBe(true);
      expect(stranger.silences.get("b")).toBeLessThan(CONTRACT_LEASE.leaseMs);
      await expect(
        rejectionAs(
          SanpathError,
          fixture.rpc.renewLease(fixture.endpoint("a"), { node: "" }, signal(), 1000),
        ),
      ).resolves.toMatchObject({ kind: "invalid_argument" });
    });

    it("a refusal keeps the node's kind and reason, and names the call and the node", async () => {
      await fixture.rpc.acquirePath(fixture.endpoint("b"), { epoch: 2, diskId, index: 1 }, signal());
      const held = await rejectionAs(
        SanpathError,
        fixture.rpc.acquirePath(fixture.endpoint("a"), { epoch: 2, diskId, index: 1 }, signal()),
      );
      expect(held).toMatchObject({ kind: "failed_precondition", reason: "PATH_HELD_ELSEWHERE" });
      expect(held.message).toContain("AcquirePath on a");
      expect(held.message).toContain("node b");
      const stale = await rejectionAs(
        SanpathError,
        fixture.rpc.cleanPath(fixture.endpoint("b"), { epoch: 1, diskId, index: 1 }, signal()),
      );
      expect(stale.reason).toBe("STALE_EPOCH");
      expect(stale.message).toContain("CleanPath on b");
      const invalid = await rejectionAs(
        SanpathError,
        fixture.rpc.acquirePath(fixture.endpoint("a"), { epoch: 2, diskId: "nope", index: 1 }, signal()),
      );
      expect(invalid).toMatchObject({ kind: "invalid_argument", reason: "INVALID_FIELD" });
    });

    it("a node without an address, or with nobody answering, is UNAVAILABLE", async () => {
      const noAddress = await rejectionAs(
        SanpathError,
        fixture.rpc.acquirePath({ name: "ghost", address: "" }, { epoch: 1, diskId, index: 1 }, signal()),
      );
      expect(noAddress.kind).toBe("unavailable");
      expect(noAddress.message).toContain("ghost");
      await fixture.stopAnswering("a");
      const gone = await rejectionAs(
        SanpathError,
        fixture.rpc.acquirePath(fixture.endpoint("a"), { epoch: 1, diskId, index: 1 }, signal()),
      );
      expect(gone.kind).toBe("unavailable");
      expect(gone.message).toContain("AcquirePath on a");
    });

    it("a call past its deadline is DEADLINE_EXCEEDED, and the node's work is cancelled", async () => {
      const a = cluster.node("a");
      a.target.faults.hangNext("enablePortal");
      const error = await rejectionAs(
        SanpathError,
        fixture.rpc.acquirePath(fixture.endpoint("a"), { epoch: 1, diskId, index: 1 }, signal()),
      );
      expect(error.kind).toBe("deadline_exceeded");
      // The node saw the call end and undid the half-made path.
      await until("the node to undo the path", () =>
        a.journal.get(`${diskId}/1`) === undefined && a.network.kernelAddresses().length === 0
          ? true
          : undefined,
      );
    });

    it("a caller that gives up gets CANCELLED at once", async () => {
      const already = new AbortController();
      already.abort();
      const before = await rejectionAs(
        SanpathError,
        fixture.rpc.acquirePath(fixture.endpoint("a"), { epoch: 1, diskId, index: 1 }, already.signal),
      );
      expect(before.kind).toBe("cancelled");
      cluster.node("a").target.faults.hangNext("enablePortal");
      const giveUp = new AbortController();
      const call = fixture.rpc.acquirePath(
        fixture.endpoint("a"),
        { epoch: 1, diskId, index: 1 },
        giveUp.signal,
      );
      await until("the call to reach the node", () =>
        cluster.node("a").target.faults.callsOf("enablePortal").length > 0 ? true : undefined,
      );
      giveUp.abort();
      expect((await rejectionAs(SanpathError, call)).kind).toBe("cancelled");
    });
  });
}
