// The node-to-node step of a path move, done two ways from a third node's namespace (the
// coordinator's seat) on a real 3-node dev cluster:
//   - the old way, as PetaSAN does it: `ssh root@<node> <command>` for CleanPath on the source and
//     for AcquirePath on the target, a fresh process on the remote node each time (sshd from
//     Debian in each node's namespace, key authentication);
//   - sanpath's way: NodeService CleanPath + AcquirePath over kept-alive gRPC channels (TCP on the
//     management network, mutual TLS with the seat's node certificate, as the coordinator does).
// Both do the same work on the nodes (the local sanpathd serves the call); the difference is how
// the coordinator reaches them. Also an empty round trip each way (ssh `true`, a gRPC health Check).
// Run (root, after `npm run build`): node dist/bench/ssh-vs-grpc.js [--steps 10]
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { execa } from "execa";
import { nodeCertificate } from "../src/devcluster/cluster-pki.js";
import { addDisk, waitUntilPlaced, withAdmin } from "../src/devcluster/cluster-ops.js";
import { spawnDetached, stopProcess, type ProcessRecord } from "../src/devcluster/detached-process.js";
import type { CordonNodeResponse } from "../src/gen/sanpath/v1/cluster.js";
import { projectRoot } from "../src/util/project-root.js";
import { machineLine, ms, percentile, startBenchCluster } from "./devcluster-support.js";

const { values: args } = parseArgs({ options: { steps: { type: "string", default: "10" } } });
const steps = Math.max(2, Math.floor(Number(args.steps) / 2) * 2);
const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};
const run = async (
  file: string,
  fileArgs: readonly string[],
  timeoutMs = 30_000,
  env: Record<string, string> = {},
): Promise<string> =>
  (await execa(file, fileArgs, { env, timeout: timeoutMs, cancelSignal: AbortSignal.timeout(timeoutMs) }))
    .stdout;

interface StepTimes {
  clean: number[];
  acquire: number[];
  step: number[];
  noop: number[];
}

function parseSteps(output: string): StepTimes {
  const times: StepTimes = { clean: [], acquire: [], step: [], noop: [] };
  for (const line of output.split("\n")) {
    if (line.trim() === "") continue;
    const entry = JSON.parse(line) as Partial<Record<"clean" | "acquire" | "step", number>> & {
      noop?: number[];
    };
    if (entry.noop !== undefined) times.noop.push(...entry.noop);
    if (entry.step !== undefined) {
      times.clean.push(entry.clean ?? Number.NaN);
      times.acquire.push(entry.acquire ?? Number.NaN);
      times.step.push(entry.step);
    }
  }
  return times;
}

say(`ssh vs gRPC bench: ${machineLine()}`);
const cluster = await startBenchCluster("ssh", { nodes: 3, logLevel: "info" });
const sshd: ProcessRecord[] = [];
try {
  const pki = cluster.state.tls;
  const nodeToken = cluster.state.auth?.nodeTokenFile;
  if (pki === undefined && nodeToken === undefined)
    throw new Error("the bench needs node credentials: TLS (node certificates) or a node token");
  const paths = await withAdmin(cluster, async (admin) => {
    await addDisk(admin, { name: "step", paths: 1, subnet: "1" });
    return waitUntilPlaced(admin, { timeoutMs: 60_000, expectCount: 1 });
  });
  const path = paths[0];
  if (path === undefined) throw new Error("no path to move");
  // Nobody else may place the path while the bench moves it by hand: every node is cordoned.
  await withAdmin(cluster, async (admin) => {
    for (const node of cluster.state.nodes) {
      await admin.call<CordonNodeResponse>((md, opts, done) =>
        admin.cluster.cordonNode({ node: node.name }, md, opts, done),
      );
    }
  });
  const source = cluster.layout.nodes.find((node) => node.name === path.node);
  const [seat, target] = cluster.layout.nodes.filter((node) => node.name !== path.node);
  if (source === undefined || seat === undefined || target === undefined) throw new Error("3 nodes expected");
  const socket = (name: string): string => cluster.serverAddress(name);

  // sshd in the source's and the target's namespace, a key for root.
  const sshDir = join(cluster.dir, "ssh");
  mkdirSync(sshDir, { recursive: true });
  mkdirSync("/run/sshd", { recursive: true }); // sshd's privilege separation directory
  const key = join(sshDir, "client_ed25519");
  await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", key]);
  for (const node of [source, target]) {
    const dir = join(sshDir, node.name);
    mkdirSync(dir, { recursive: true });
    await run("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(dir, "host_ed25519")]);
    await run("cp", [`${key}.pub`, join(dir, "authorized_keys")]);
    const config = join(dir, "sshd_config");
    writeFileSync(
      config,
      [
        `ListenAddress ${node.mgmtIp}`,
        "Port 22",
        `HostKey ${join(dir, "host_ed25519")}`,
        `PidFile ${join(dir, "sshd.pid")}`,
        `AuthorizedKeysFile ${join(dir, "authorized_keys")}`,
        "PermitRootLogin prohibit-password",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "StrictModes no",
        "PrintMotd no",
        "",
      ].join("\n"),
    );
    sshd.push(
      spawnDetached({
        netns: cluster.nodeNs(node.name),
        file: "/usr/sbin/sshd",
        args: ["-D", "-e", "-f", config],
        logFile: join(dir, "sshd.log"),
        label: `sshd ${node.name}`,
      }),
    );
  }
  await new Promise((resolve) => setTimeout(resolve, 500));

  const step = join(projectRoot(), "dist", "bench", "node-step.js");
  // The seat's node credentials: its node certificate (mutual TLS), or the node token without TLS.
  const seatCertificate = pki === undefined ? undefined : nodeCertificate(pki, seat.name);
  // Every credential variable is set (empty = none), so the operator's own $SANPATH_* (an admin
  // token would win over the certificate) do not leak in.
  const credentials: Record<string, string> =
    pki === undefined || seatCertificate === undefined
      ? { SANPATH_CA: "", SANPATH_CERT: "", SANPATH_KEY: "", SANPATH_TOKEN_FILE: nodeToken ?? "" }
      : {
          SANPATH_CA: pki.ca,
          SANPATH_CERT: seatCertificate.cert,
          SANPATH_KEY: seatCertificate.key,
          SANPATH_TOKEN_FILE: "",
        };
  const inSeat = (stepArgs: readonly string[]): Promise<string> =>
    run(
      "ip",
      ["netns", "exec", cluster.nodeNs(seat.name), process.execPath, step, ...stepArgs],
      10 * 60_000,
      credentials,
    );
  const grpc = parseSteps(
    await inSeat([
      "grpc",
      source.grpcAddress,
      target.grpcAddress,
      path.diskId,
      String(path.index),
      String(steps),
    ]),
  );
  const ssh = parseSteps(
    await inSeat([
      "ssh",
      source.mgmtIp,
      target.mgmtIp,
      path.diskId,
      String(path.index),
      key,
      String(steps),
      process.execPath,
      socket(source.name),
      socket(target.name),
    ]),
  );

  const p50 = (values: readonly number[]): number => percentile(values, 50);
  const row = (what: string, ours: readonly number[], old: readonly number[]): string =>
    `  ${what.padEnd(34)} gRPC p50 ${ms(p50(ours)).padStart(8)} p99 ${ms(percentile(ours, 99)).padStart(8)}   ssh p50 ${ms(p50(old)).padStart(8)} p99 ${ms(percentile(old, 99)).padStart(8)}   ssh/gRPC ${(p50(old) / p50(ours)).toFixed(1)}×`;
  say("");
  say(
    `path ${path.ip} moved back and forth between ${source.name} and ${target.name}, ${steps} steps each way of doing it, driven from ${seat.name}'s namespace:`,
  );
  say(row("step (CleanPath + AcquirePath)", grpc.step, ssh.step));
  say(row("  CleanPath on the source", grpc.clean, ssh.clean));
  say(row("  AcquirePath on the target", grpc.acquire, ssh.acquire));
  say(row("empty round trip (health / true)", grpc.noop, ssh.noop));
  say(
    `  overhead per call (ssh round trip + remote process − gRPC round trip): ${ms(p50(ssh.step) / 2 - p50(grpc.step) / 2)}`,
  );
} finally {
  for (const record of sshd) await stopProcess(record, { signal: "SIGTERM" }).catch(() => undefined);
  await cluster.down();
}
