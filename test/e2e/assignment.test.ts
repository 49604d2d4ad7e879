/**
 * End to end, one 3-node dev cluster, scenarios in order: disks added → every path placed and read
 * by the client; a manual move; a drain; a rebalance. During each one an address sampler reads
 * `ip -j addr` in every node namespace every 5 ms: no IP may ever be up on two nodes, and no path
 * may stay unserved past its bound. Last, on the same cluster: its mutual TLS (node-to-node calls with
 * node certificates; what a node's port and an admin socket refuse; `deploy/dev-cluster env`).
 */
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { describe, expect, it } from "vitest";
import type { ListNodesResponse } from "../../src/gen/sanpath/v1/assignment.js";
import type { PathView } from "../../src/devcluster/client-reads.js";
import {
  addDisk,
  countByNode,
  drainNode,
  manualMove,
  REBALANCE,
  startJob,
  uncordonNode,
  waitForJob,
  waitUntilPlaced,
  withAdmin,
} from "../../src/devcluster/cluster-ops.js";
import { nodeCertificate } from "../../src/devcluster/cluster-pki.js";
import type { DevCluster } from "../../src/devcluster/dev-cluster.js";
import { ExecaCommandRunner } from "../../src/exec/execa-runner.js";
import { issueClusterCa, issueNodeCertificate } from "../../src/security/cluster-certificates.js";
import { projectRoot } from "../../src/util/project-root.js";
import { runSanpathCli } from "../harness/sanpathd.js";
import {
  addressesOn,
  auditRecordsOf,
  bufCurlIn,
  currentPaths,
  expectEveryPathReads,
  expectSafeAndServed,
  expectSucceeded,
  sampleAddresses,
  useE2eCluster,
} from "./support.js";

/**
 * What buf curl says when the server drops the connection during the TLS handshake: unavailable
 * when that happens before it has written its request, canceled ("broken pipe") while it writes.
 * Either way no answer came back.
 */
const REFUSED_AT_CONNECTION = /"code": "(unavailable|canceled)"/;

/** Placing a new path, or a move's clean→acquire, must not leave it unserved longer than this. */
const PLACEMENT_BOUND_MS = 30_000;
const MOVE_BOUND_MS = 10_000;
const JOB_TIMEOUT_MS = 90_000;

function listNodes(cluster: DevCluster): Promise<ListNodesResponse> {
  return withAdmin(cluster, (admin) =>
    admin.call<ListNodesResponse>((md, opts, done) => admin.assignment.listNodes({}, md, opts, done)),
  );
}

describe("paths on a 3-node dev cluster (add, move, drain, rebalance)", () => {
  const dev = useE2eCluster("assign");
  const current = (): Promise<PathView[]> => currentPaths(dev());

  it("places every path of new disks on a node, and the client reads each one", async () => {
    const sampler = sampleAddresses(dev());
    try {
      const disks = await withAdmin(dev(), async (admin) => [
        await addDisk(admin, { name: "db", paths: 4, subnet: "both" }),
        await addDisk(admin, { name: "web", paths: 4, subnet: "both" }),
        await addDisk(admin, { name: "logs", paths: 2, subnet: "1" }),
        await addDisk(admin, { name: "single-a", paths: 1, subnet: "2" }),
        await addDisk(admin, { name: "single-b", paths: 1, subnet: "1" }),
      ]);
      const ips = disks.flatMap((disk) => disk.paths.map((path) => path.ip));
      expect(ips).toHaveLength(12);
      sampler.expect(ips);
      const paths = await withAdmin(dev(), (admin) =>
        waitUntilPlaced(admin, { timeoutMs: PLACEMENT_BOUND_MS, expectCount: 12 }),
      );
      expect(new Set(paths.map((path) => path.ip))).toEqual(new Set(ips));
      // The coordinator spreads them: every node serves some.
      expect([...countByNode(paths).keys()].sort()).toEqual(["node1", "node2", "node3"]);
      await expectEveryPathReads(dev(), paths);
      await sampler.nextRound();
      for (const path of paths) expect(sampler.holders().get(path.ip)).toEqual([path.node]);
    } finally {
      expectSafeAndServed(await sampler.stop(), PLACEMENT_BOUND_MS);
    }
  }, 120_000);

  it("moves selected paths to the named node (manual move)", async () => {
    const before = await current();
    // Single-path disks can go anywhere; pick a node that does not serve one of them yet.
    const singles = before.filter((path) => path.diskName.startsWith("single-"));
    const target = ["node1", "node2", "node3"].find((node) => singles.some((path) => path.node !== node));
    if (target === undefined) throw new Error("no target node for the move");
    const moving = singles.filter((path) => path.node !== target);
    const sampler = sampleAddresses(dev());
    try {
      const job = await withAdmin(dev(), (admin) =>
        startJob(
          admin,
          manualMove(
            moving.map((path) => path.ip),
            target,
          ),
        ),
      );
      const done = await waitForJob(dev(), job.id, JOB_TIMEOUT_MS);
      expectSucceeded(done);
      expect(done.totals?.succeeded).toBe(moving.length);
      const after = await current();
      for (const path of moving)
        expect(after.find((candidate) => candidate.ip === path.ip)?.node).toBe(target);
      await sampler.nextRound();
      for (const path of moving) expect(sampler.holders().get(path.ip)).toEqual([target]);
      // Paths that were not selected stay where they were.
      for (const path of before.filter((candidate) => !moving.includes(candidate))) {
        expect(after.find((candidate) => candidate.ip === path.ip)?.node).toBe(path.node);
      }
      await expectEveryPathReads(dev(), after);
    } finally {
      expectSafeAndServed(await sampler.stop(), MOVE_BOUND_MS);
    }
  }, 120_000);

  it("drains a node: every path leaves it, it is cordoned, every path still reads", async () => {
    const before = await current();
    const [drained] = [...countByNode(before)].sort((a, b) => b[1] - a[1])[0] ?? [];
    if (drained === undefined) throw new Error("no node serves paths");
    const sampler = sampleAddresses(dev());
    try {
      const job = await withAdmin(dev(), (admin) => drainNode(admin, drained));
      const done = await waitForJob(dev(), job.id, JOB_TIMEOUT_MS);
      expectSucceeded(done);
      const after = await current();
      expect(after.filter((path) => path.node === drained)).toEqual([]);
      expect(after.every((path) => path.node !== "")).toBe(true);
      await sampler.nextRound();
      expect(addressesOn(sampler, drained)).toEqual([]);
      const nodes = await listNodes(dev());
      expect(nodes.nodes.find((node) => node.name === drained)?.cordoned).toBe(true);
      await expectEveryPathReads(dev(), after);
    } finally {
      expectSafeAndServed(await sampler.stop(), MOVE_BOUND_MS);
    }
  }, 120_000);

  it("rebalances: after uncordon the average planner evens paths out over all nodes", async () => {
    const before = await current();
    const empty = ["node1", "node2", "node3"].find((node) => !countByNode(before).has(node));
    if (empty === undefined) throw new Error("the drained node serves paths again before the rebalance");
    const sampler = sampleAddresses(dev());
    try {
      await withAdmin(dev(), (admin) => uncordonNode(admin, empty));
      const job = await withAdmin(dev(), (admin) => startJob(admin, REBALANCE));
      const done = await waitForJob(dev(), job.id, JOB_TIMEOUT_MS);
      expectSucceeded(done);
      const after = await current();
      // ceil(12 / 3) = 4 per node.
      expect(Object.fromEntries(countByNode(after))).toEqual({ node1: 4, node2: 4, node3: 4 });
      await expectEveryPathReads(dev(), after);
    } finally {
      expectSafeAndServed(await sampler.stop(), MOVE_BOUND_MS);
    }
  }, 120_000);

  it("runs mutual TLS: node-to-node calls carry node certificates; plaintext, a foreign CA and an admin certificate are refused", async () => {
    const cluster = dev();
    const pki = cluster.state.tls;
    const adminTokenFile = cluster.state.auth?.adminTokenFile;
    if (pki === undefined || adminTokenFile === undefined)
      throw new Error("the e2e cluster runs without TLS or tokens");

    // Every AcquirePath(s) / CleanPath(s) of the scenarios above came from a node with its node
    // certificate (calls to one node close together go as one batch call: AcquirePaths, CleanPaths).
    const nodeCalls = cluster.state.nodes
      .flatMap((node) => auditRecordsOf(cluster, node.name))
      .filter((record) => /\/sanpath\.v1\.NodeService\/(AcquirePaths?|CleanPaths?)$/.test(record.method));
    const kinds = new Set(
      nodeCalls.map((record) => record.method.replace(/^.*\/(AcquirePath|CleanPath)s?$/, "$1")),
    );
    expect(kinds).toEqual(new Set(["AcquirePath", "CleanPath"]));
    expect(nodeCalls.length).toBeGreaterThanOrEqual(4);
    expect(
      new Set(nodeCalls.map((record) => JSON.stringify([record.caller?.role, record.caller?.credential]))),
    ).toEqual(new Set([JSON.stringify(["node", "certificate"])]));
    expect(nodeCalls.every((record) => /^node[1-3]$/.test(record.caller?.name ?? ""))).toBe(true);

    // node1's management port, dialled from node2's namespace (the root namespace has no route there).
    const runner = new ExecaCommandRunner();
    // Its own folder per attempt (a retried test must not find the first attempt's CA).
    const foreignDir = join(cluster.dir, `foreign-pki-${Date.now().toString(36)}`);
    await issueClusterCa(runner, { dir: foreignDir, days: 1 });
    const rogue = await issueNodeCertificate(runner, {
      dir: foreignDir,
      days: 1,
      name: "rogue",
      ips: ["192.0.2.12"],
      dnsNames: [],
    });
    const peer = nodeCertificate(pki, "node2");
    const target = cluster.layout.nodes[0]?.grpcAddress ?? "";
    const fromNode2 = (args: readonly string[]) => bufCurlIn(cluster.nodeNs("node2"), args);
    const nodeMethod = (method: string) => `https://${target}/sanpath.v1.NodeService/${method}`;
    const status = ["-d", "{}", nodeMethod("Status")];

    const plaintext = await fromNode2([
      "--http2-prior-knowledge",
      "-d",
      "{}",
      `http://${target}/sanpath.v1.NodeService/Status`,
    ]);
    expect(plaintext.code).not.toBe(0);
    expect(plaintext.output).toMatch(REFUSED_AT_CONNECTION);
    const foreign = await fromNode2([
      "--cacert",
      pki.ca,
      "--cert",
      rogue.cert,
      "--key",
      rogue.key,
      ...status,
    ]);
    expect(foreign.code).not.toBe(0);
    expect(foreign.output).toMatch(REFUSED_AT_CONNECTION);
    const admin = await fromNode2([
      "--cacert",
      pki.ca,
      "--cert",
      pki.adminCert,
      "--key",
      pki.adminKey,
      "-d",
      JSON.stringify({ epoch: 1, path: { diskId: "00001", index: 1 } }),
      nodeMethod("CleanPath"),
    ]);
    expect(admin.code).not.toBe(0);
    expect(admin.output).toContain("permission_denied");
    expect(admin.output).toContain("dev-admin (role admin) may not call NodeService/CleanPath");
    const member = await fromNode2(["--cacert", pki.ca, "--cert", peer.cert, "--key", peer.key, ...status]);
    expect(member.code, member.output).toBe(0);
    expect(JSON.parse(member.output)).toMatchObject({ node: "node1", address: target });

    // The admin socket (0600) takes the same mutual TLS, reached by the name "localhost": buf curl
    // with the admin certificate and token works, plaintext does not.
    const socket = cluster.state.nodes[0]?.adminSocket ?? "";
    expect(statSync(socket).mode & 0o777).toBe(0o600);
    const headers = join(cluster.dir, "admin-headers");
    writeFileSync(headers, `authorization: Bearer ${readFileSync(adminTokenFile, "utf8").trim()}\n`, {
      mode: 0o600,
    });
    const leader = ["-H", `@${headers}`, "-d", "{}"];
    const overSocket = await bufCurlIn(undefined, [
      "--unix-socket",
      socket,
      "--cacert",
      pki.ca,
      "--cert",
      pki.adminCert,
      "--key",
      pki.adminKey,
      ...leader,
      "https://localhost/sanpath.v1.ClusterService/GetLeader",
    ]);
    expect(overSocket.code, overSocket.output).toBe(0);
    expect((JSON.parse(overSocket.output) as { leader?: { node?: string } }).leader?.node).toMatch(
      /^node[1-3]$/,
    );
    const plainSocket = await bufCurlIn(undefined, [
      "--unix-socket",
      socket,
      "--http2-prior-knowledge",
      ...leader,
      "http://localhost/sanpath.v1.ClusterService/GetLeader",
    ]);
    expect(plainSocket.code).not.toBe(0);
    expect(plainSocket.output).toMatch(REFUSED_AT_CONNECTION);

    // `deploy/dev-cluster env` gives the CLI everything it needs; `status` says TLS is on.
    const devCluster = async (args: readonly string[]): Promise<string> =>
      (
        await execa(
          process.execPath,
          [join(projectRoot(), "dist", "src", "devcluster", "main.js"), "--dir", cluster.dir, ...args],
          {
            timeout: 30_000,
            cancelSignal: AbortSignal.timeout(31_000),
          },
        )
      ).stdout;
    const exports = Object.fromEntries(
      [...(await devCluster(["env"])).matchAll(/^export (\w+)=(.*)$/gm)].map((match) => [
        match[1] ?? "",
        match[2] ?? "",
      ]),
    );
    expect(Object.keys(exports).sort()).toEqual([
      "SANPATH_CA",
      "SANPATH_CERT",
      "SANPATH_KEY",
      "SANPATH_SERVER",
      "SANPATH_TOKEN_FILE",
    ]);
    const info = await runSanpathCli(["cluster", "info"], exports);
    expect(info.code, info.stderr).toBe(0);
    const withoutCertificate = await runSanpathCli(["cluster", "info"], {
      SANPATH_SERVER: exports.SANPATH_SERVER ?? "",
      SANPATH_TOKEN_FILE: exports.SANPATH_TOKEN_FILE ?? "",
    });
    expect(withoutCertificate.code).toBe(1);
    expect(withoutCertificate.stderr).toContain("UNAVAILABLE");
    const statusText = await devCluster(["status"]);
    expect(statusText).toContain(`TLS on: mutual, CA ${pki.ca}`);
    // The metrics line's command reads a node's Prometheus endpoint from the root namespace.
    const readOne = /^ {2}read one: (.+)$/m.exec(statusText)?.[1] ?? "";
    expect(readOne).toContain("curl -s --cacert");
    const [program = "", ...programArgs] = readOne.split(" ");
    const scraped = await execa(program, programArgs, { timeout: 20_000 });
    expect(scraped.stdout).toMatch(/^sanpath_build_info\{version="[^"]+",node="node1"\} 1$/m);
  }, 120_000);
});
