/**
 * destroyTcpSockets of the net addon (SOCK_DESTROY over sock_diag, native/src/net_sock_diag.cc)
 * against the real kernel, in a namespace of its own: a child process in the namespace listens on
 * 203.0.113.10:3260 and holds three client connections to it (an echo server, like tgtd's
 * listener and its initiators). Destroying the server's end of one connection by its 4-tuple
 * resets exactly that client; the others still echo. A 4-tuple with no connection answers ENOENT,
 * and the listener at its local end (which the kernel's own lookup falls back to) keeps accepting.
 */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadNetBinding, openNetChannel, type NativeTcpSocket, type NetChannel } from "../../native/net.js";
import { SanpathError } from "../../src/errors/sanpath-error.js";
import { createTopology, type Topology } from "../harness/netns.js";
import { rejectionAs } from "../support/thrown.js";

const SERVER_IP = "203.0.113.10";
const PORT = 3260;
const CLIENTS = 3;

/** The child: the echo server, its clients, and what becomes of them as JSON lines. */
const CHILD = `
const net = require("node:net");
const say = (event) => process.stdout.write(JSON.stringify(event) + "\\n");
const clients = [];
const server = net.createServer((socket) => {
  socket.on("data", (data) => socket.write(data));
  socket.on("error", () => undefined);
});
server.listen(${PORT}, "${SERVER_IP}", () => {
  let connected = 0;
  for (let i = 0; i < ${CLIENTS}; i++) {
    const client = net.connect(${PORT}, "${SERVER_IP}", () => {
      clients[i] = client;
      if (++connected === ${CLIENTS}) say({ ports: clients.map((c) => c.localPort) });
    });
    client.on("error", (error) => say({ client: i, error: error.code }));
    client.on("close", () => say({ client: i, closed: true }));
    client.on("data", (data) => say({ client: i, echo: data.toString() }));
  }
});
process.stdin.on("data", (data) => {
  for (const command of data.toString().split("\\n").filter(Boolean)) {
    if (command.startsWith("ping ")) {
      clients.forEach((client, i) => { if (!client.destroyed) client.write(command.slice(5) + ":" + i); });
    } else if (command === "connect") {
      const extra = net.connect(${PORT}, "${SERVER_IP}", () => { say({ accepted: true }); extra.destroy(); });
      extra.on("error", (error) => say({ accepted: false, error: error.code }));
    }
  }
});
process.stdin.on("end", () => process.exit(0));
`;

interface ChildEvent {
  ports?: number[];
  client?: number;
  error?: string;
  closed?: boolean;
  echo?: string;
  accepted?: boolean;
}

let topology: Topology | undefined;
let child: ChildProcessWithoutNullStreams | undefined;
const events: ChildEvent[] = [];
let ports: number[] = [];

function topo(): Topology {
  if (topology === undefined) throw new Error("the topology was not created");
  return topology;
}

async function eventually(found: (event: ChildEvent) => boolean, what: string): Promise<ChildEvent> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const event = events.find(found);
    if (event !== undefined) return event;
    if (Date.now() > deadline) throw new Error(`the child never said ${what}: ${JSON.stringify(events)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** The server's end of client `i`'s connection (what tgtd holds for an initiator). */
function serverEnd(i: number): NativeTcpSocket {
  return { localIp: SERVER_IP, localPort: PORT, remoteIp: SERVER_IP, remotePort: ports[i] ?? 0 };
}

/** Which clients answer a ping now. */
async function echoing(tag: string): Promise<number[]> {
  child?.stdin.write(`ping ${tag}\n`);
  await new Promise((resolve) => setTimeout(resolve, 300));
  return events
    .filter((event) => event.echo?.startsWith(`${tag}:`) === true)
    .map((event) => event.client ?? -1)
    .sort();
}

function channel(timeoutMs = 5000): NetChannel {
  return openNetChannel({ netns: topo().nsName("srv"), timeoutMs }, loadNetBinding());
}

beforeAll(async () => {
  topology = await createTopology({
    bridges: ["sd1"],
    hosts: [{ name: "srv", links: [{ bridge: "sd1", ifname: "eth1", address: `${SERVER_IP}/24` }] }],
  });
  const started = spawn("ip", ["netns", "exec", topology.nsName("srv"), process.execPath, "-e", CHILD], {
    stdio: ["pipe", "pipe", "pipe"],
  });
  child = started;
  let pending = "";
  started.stdout.on("data", (chunk: Buffer) => {
    pending += chunk.toString();
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines.filter(Boolean)) events.push(JSON.parse(line) as ChildEvent);
  });
  ports = (await eventually((event) => event.ports !== undefined, "its client ports")).ports ?? [];
  expect(ports).toHaveLength(CLIENTS);
});

afterAll(async () => {
  try {
    const running = child;
    if (running !== undefined && running.exitCode === null) {
      const exited = new Promise<boolean>((resolve) => running.once("exit", () => resolve(true)));
      running.stdin.end();
      const late = new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 2000));
      if (!(await Promise.race([exited, late])) && running.pid !== undefined)
        process.kill(running.pid, "SIGKILL");
    }
  } finally {
    await topology?.destroy();
  }
});

describe("destroyTcpSockets against the kernel", () => {
  it("destroys exactly the connection named by its 4-tuple: that client is reset, the others still echo", async () => {
    expect(await echoing("before")).toEqual([0, 1, 2]);
    expect(await channel().destroyTcpSockets([serverEnd(1)])).toEqual([{ kind: "destroyed" }]);
    const reset = await eventually(
      (event) => event.client === 1 && event.error !== undefined,
      "client 1 failed",
    );
    expect(reset.error).toBe("ECONNRESET");
    await eventually((event) => event.client === 1 && event.closed === true, "client 1 closed");
    expect(await echoing("after")).toEqual([0, 2]);
    expect(
      events.filter((event) => event.client !== 1 && (event.error ?? event.closed) !== undefined),
    ).toEqual([]);
  });

  it("takes IPv4-mapped IPv6 addresses for the same socket", async () => {
    const mapped = { ...serverEnd(2), localIp: `::ffff:${SERVER_IP}`, remoteIp: `::ffff:${SERVER_IP}` };
    expect(await channel().destroyTcpSockets([mapped])).toEqual([{ kind: "destroyed" }]);
    await eventually((event) => event.client === 2 && event.error === "ECONNRESET", "client 2 was reset");
    expect(await echoing("mapped")).toEqual([0]);
  });

  it("a connection that is not there is gone (ENOENT at the lookup), and the listener at its local end keeps accepting", async () => {
    const nobody = { ...serverEnd(0), remotePort: 1 };
    // Client 1's connection was destroyed above: asked again, it is gone too.
    expect(await channel().destroyTcpSockets([nobody, serverEnd(1), serverEnd(0)])).toEqual([
      { kind: "gone" },
      { kind: "gone" },
      { kind: "destroyed" },
    ]);
    const answers = await loadNetBinding().destroyTcpSockets(
      { netns: topo().nsName("srv"), timeoutMs: 5000 },
      [nobody],
    );
    expect(answers).toEqual([{ errno: -2, code: "ENOENT", step: "lookup" }]);
    child?.stdin.write("connect\n");
    expect(await eventually((event) => event.accepted !== undefined, "whether it connected")).toEqual({
      accepted: true,
    });
    await eventually((event) => event.client === 0 && event.error === "ECONNRESET", "client 0 was reset");
  });

  it("a namespace that does not exist, or a socket that is not IPv4, is a clear error", async () => {
    const missing = await rejectionAs(
      SanpathError,
      openNetChannel({ netns: "sp-no-such-namespace", timeoutMs: 1000 }, loadNetBinding()).destroyTcpSockets([
        serverEnd(0),
      ]),
    );
    expect(missing).toMatchObject({ kind: "internal", reason: "DRIVER_FAILED" });
    expect(missing.message).toBe("network namespace sp-no-such-namespace does not exist");
    await expect(channel().destroyTcpSockets([{ ...serverEnd(0), remoteIp: "2001:db8::1" }])).rejects.toThrow(
      /destroyTcpSockets: remoteIp must be an IPv4 address/,
    );
    await expect(channel().destroyTcpSockets([{ ...serverEnd(0), localPort: 0 }])).rejects.toThrow(
      /localPort must be an integer in 1\.\.65535/,
    );
  });
});
