// The node-to-node step of a path move (CleanPath on the source, AcquirePath on the target), for
// bench/ssh-vs-grpc.ts. Runs inside a node's network namespace (the coordinator's seat):
//   node dist/bench/node-step.js call <target> clean|acquire|status <disk> <index>
//       one NodeService call to <target> (host:port or unix:///path) and exit: the "old way"
//       runs this on the remote node through ssh, a fresh process per step as PetaSAN's scripts;
//   node dist/bench/node-step.js grpc <source> <target> <disk> <index> <count>
//       moves the path source → target → source … <count> times over kept-alive gRPC channels;
//   node dist/bench/node-step.js ssh <source ip> <target ip> <disk> <index> <key> <count> <remote-args…>
//       the same moves, each call by `ssh root@<ip> env … node …/node-step.js call …` on that node.
// Credentials as the CLI takes them: $SANPATH_CA, $SANPATH_CERT, $SANPATH_KEY (a node certificate:
// mutual TLS) and/or $SANPATH_TOKEN_FILE (the node token of a plaintext cluster).
// Prints one JSON line per step: {"clean":ms,"acquire":ms,"step":ms}, then {"noop":[ms…]} for
// an empty round trip (a grpc.health.v1 Check / ssh true).
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { Client, Metadata, type ServiceError } from "@grpc/grpc-js";
import { HealthClient } from "../src/cli/health-client.js";
import { NodeServiceClient } from "../src/gen/sanpath/v1/node.js";
import { loadClientAuth, type ClientCredentialSources } from "../src/security/client-credentials.js";

const [mode, ...rest] = process.argv.slice(2);
const self = fileURLToPath(import.meta.url);
const DEADLINE_MS = 30_000;
const NOOP_ROUNDS = 10;

const CREDENTIAL_ENV = ["SANPATH_CA", "SANPATH_CERT", "SANPATH_KEY", "SANPATH_TOKEN_FILE"] as const;
const text = (value: string | undefined): string | undefined => (value === "" ? undefined : value);
const sources: ClientCredentialSources = {
  ca: text(process.env.SANPATH_CA),
  cert: text(process.env.SANPATH_CERT),
  key: text(process.env.SANPATH_KEY),
  tokenFile: text(process.env.SANPATH_TOKEN_FILE),
};
const auth = await loadClientAuth(sources);

function client(target: string): NodeServiceClient {
  return new NodeServiceClient(target, auth.channel, auth.options);
}

function call(node: NodeServiceClient, method: string, diskId: string, index: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (error: ServiceError | null): void => {
      if (error === null) resolve();
      else reject(new Error(`${method}: ${error.details}`));
    };
    const options = { deadline: new Date(Date.now() + DEADLINE_MS) };
    if (method === "clean") {
      node.cleanPath({ epoch: 0, path: { diskId, index }, jobId: "" }, new Metadata(), options, done);
    } else if (method === "acquire") {
      node.acquirePath({ epoch: 0, diskId, index, jobId: "" }, new Metadata(), options, done);
    } else {
      node.status({ epoch: 0 }, new Metadata(), options, done);
    }
  });
}

async function timed(work: () => Promise<void>): Promise<number> {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

function ssh(ip: string, key: string, remote: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      "ssh",
      [
        "-i",
        key,
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "LogLevel=ERROR",
        `root@${ip}`,
        ...remote,
      ],
      { stdio: ["ignore", "ignore", "pipe"], timeout: DEADLINE_MS },
    );
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0 ? resolve() : reject(new Error(`ssh ${ip}: exit ${code}: ${stderr.trim()}`)),
    );
  });
}

const print = (value: unknown): void => {
  process.stdout.write(`${JSON.stringify(value)}\n`);
};

if (mode === "call") {
  const [target = "", method = "", diskId = "", index = "1"] = rest;
  const node = client(target);
  await call(node, method, diskId, Number(index));
  node.close();
} else if (mode === "grpc") {
  const [source = "", target = "", diskId = "", index = "1", count = "1"] = rest;
  const nodes = [client(source), client(target)];
  for (let step = 0; step < Number(count); step++) {
    const [from, to] = step % 2 === 0 ? [nodes[0], nodes[1]] : [nodes[1], nodes[0]];
    if (from === undefined || to === undefined) break;
    const clean = await timed(() => call(from, "clean", diskId, Number(index)));
    const acquire = await timed(() => call(to, "acquire", diskId, Number(index)));
    print({ clean, acquire, step: clean + acquire });
  }
  const health = [source, target].map(
    (address) => new HealthClient(address, new Client(address, auth.channel)),
  );
  const noop: number[] = [];
  for (let round = 0; round < NOOP_ROUNDS + 1; round++) {
    const client = health[round % 2];
    if (client === undefined) continue;
    const took = await timed(async () => {
      await client.check("", new Date(Date.now() + DEADLINE_MS));
    });
    // The first round opens the health channels; the node channels above were open already.
    if (round > 0) noop.push(took);
  }
  print({ noop });
  for (const node of nodes) node.close();
  for (const client of health) client.close();
} else if (mode === "ssh") {
  // remote-args: <node binary> <source socket> <target socket>; this process's credentials go along.
  const [
    sourceIp = "",
    targetIp = "",
    diskId = "",
    index = "1",
    key = "",
    count = "1",
    nodeBin = "",
    sourceSocket = "",
    targetSocket = "",
  ] = rest;
  const credentials = CREDENTIAL_ENV.flatMap((name) => {
    const value = process.env[name];
    return value === undefined || value === "" ? [] : [`${name}=${value}`];
  });
  const remote = (socket: string, method: string): string[] => [
    "env",
    ...credentials,
    nodeBin,
    self,
    "call",
    socket,
    method,
    diskId,
    index,
  ];
  const hosts = [
    { ip: sourceIp, socket: sourceSocket },
    { ip: targetIp, socket: targetSocket },
  ];
  for (let step = 0; step < Number(count); step++) {
    const [from, to] = step % 2 === 0 ? [hosts[0], hosts[1]] : [hosts[1], hosts[0]];
    if (from === undefined || to === undefined) break;
    const clean = await timed(() => ssh(from.ip, key, remote(from.socket, "clean")));
    const acquire = await timed(() => ssh(to.ip, key, remote(to.socket, "acquire")));
    print({ clean, acquire, step: clean + acquire });
  }
  const noop: number[] = [];
  for (let round = 0; round < NOOP_ROUNDS; round++) {
    const host = hosts[round % 2];
    if (host !== undefined) noop.push(await timed(() => ssh(host.ip, key, ["true"])));
  }
  print({ noop });
} else {
  process.stderr.write("usage: node-step.js call|grpc|ssh … (see the file header)\n");
  process.exitCode = 2;
}
