/**
 * What NodeAgent tells the health service (onServingChange → NodeService SERVING) with peer leases:
 * SERVING only while the node may take paths, i.e. its session is up *and* it holds its lease. A
 * node whose session started but whose peers do not renew it stays NOT_SERVING (and AcquirePath
 * refuses NODE_FENCED), turns SERVING once renewed, and NOT_SERVING again when the lease is lost.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { SanpathError } from "../../src/errors/sanpath-error.js";
import { ProcessCluster } from "../support/process-cluster.js";
import { rejectionAs } from "../support/thrown.js";
import { until } from "../support/until.js";
import { TEST_LEASE_SESSION, TEST_LEASE_TIMING } from "../support/lease-timing.js";

const TIMING = TEST_LEASE_TIMING;
const SESSION = TEST_LEASE_SESSION;
const signal = (): AbortSignal => AbortSignal.timeout(5000);

describe("NodeService SERVING with peer leases", () => {
  let cluster: ProcessCluster;
  let said: boolean[];

  beforeEach(async () => {
    cluster = await ProcessCluster.start("ServingHealth");
    for (const name of ["a", "c"]) await cluster.addNode(name, { lease: TIMING, session: SESSION });
    said = [];
  });
  afterEach(async () => {
    await cluster.close();
  });

  it("a node whose session is up but whose lease no peer renews says NOT_SERVING; SERVING once renewed, NOT_SERVING when the lease is lost", async () => {
    cluster.cutLeases("b");
    const b = await cluster.addNode("b", {
      lease: TIMING,
      session: SESSION,
      waitUntilServing: false,
      onServingChange: (serving) => said.push(serving),
    });
    await until("b's session active", async () => {
      const status = await b.agent.status(0, signal());
      return status.session.phase === "active" && status.session.id !== undefined ? true : undefined;
    });
    // Several leases long: the node record is written, its peers know of it, none renews it.
    await new Promise((resolve) => setTimeout(resolve, 3 * TIMING.leaseMs));
    expect(said).toEqual([]);
    const diskId = await cluster.addDisk();
    const refused = await rejectionAs(
      SanpathError,
      b.agent.acquirePath({ epoch: 1, diskId, index: 1, jobId: "" }, signal()),
    );
    expect(refused.reason).toBe("NODE_FENCED");

    cluster.healLeases("b");
    await until("b says SERVING", () => (said.at(-1) === true ? true : undefined));
    expect(said).toEqual([true]);
    await b.agent.acquirePath({ epoch: 1, diskId, index: 1, jobId: "" }, signal());

    cluster.cutLeases("b");
    await until("b says NOT_SERVING", () => (said.at(-1) === false ? true : undefined));
    expect(said).toEqual([true, false]);
    expect((await b.agent.status(0, signal())).session.fences).toBe(1);
  });
});
