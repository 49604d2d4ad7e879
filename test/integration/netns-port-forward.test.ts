/**
 * src/netns/port-forward.ts: a TCP service listening only inside a network namespace is reached
 * from the test process (root namespace) through 127.0.0.1 and a unix socket bridge.
 */
import { existsSync } from "node:fs";
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isPidAlive } from "../../src/netns/daemon.js";
import { startPortForward, type PortForward } from "../../src/netns/port-forward.js";
import { createTopology, type DaemonHandle, type Topology } from "../harness/netns.js";
import { until } from "../support/until.js";

/** An echo server bound to the namespace's address only. */
const ECHO = `
const net = require("node:net");
net.createServer((socket) => socket.on("data", (data) => socket.write("echo:" + data))).listen(7000, "192.0.2.20");
`;

function exchange(address: string, message: string): Promise<string> {
  const [host = "", port = ""] = address.split(":");
  return new Promise((resolve, reject) => {
    const socket = connect(Number(port), host);
    socket.setTimeout(5000, () => socket.destroy(new Error("no answer")));
    socket.once("error", reject);
    socket.once("connect", () => socket.write(message));
    socket.once("data", (data) => {
      socket.end();
      resolve(data.toString());
    });
    // The bridge closes the connection when nothing listens behind it yet: no error, no data.
    socket.once("close", () => reject(new Error("closed without an answer")));
  });
}

/** Asks until the echo server behind the forward answers (it starts beside the test, not awaited). */
async function untilAnswering(address: string): Promise<void> {
  await until(
    "the echo server to answer through the forward",
    async () => {
      await exchange(address, "ready?");
      return true;
    },
    { timeoutMs: 15_000, intervalMs: 100, retryErrors: true },
  );
}

describe("port forward into a network namespace", () => {
  let topology: Topology | undefined;
  let echo: DaemonHandle | undefined;
  let forward: PortForward | undefined;

  beforeAll(async () => {
    topology = await createTopology({
      bridges: ["mgmt"],
      hosts: [{ name: "svc", links: [{ bridge: "mgmt", ifname: "eth0", address: "192.0.2.20/24" }] }],
    });
    echo = topology.spawnIn("svc", process.execPath, ["-e", ECHO]);
    forward = await startPortForward({ netns: topology.nsName("svc"), host: "192.0.2.20", port: 7000 });
    await untilAnswering(forward.address);
  });

  afterAll(async () => {
    await forward?.stop();
    await echo?.stop();
    await topology?.destroy();
  });

  it("exposes the namespace's service on 127.0.0.1 in the root namespace, for many connections at once", async () => {
    if (forward === undefined) throw new Error("no forward");
    expect(forward.address).toMatch(/^127\.0\.0\.1:\d+$/);
    const answers = await Promise.all(
      Array.from({ length: 20 }, (_, index) => exchange(forward?.address ?? "", `hello ${index}`)),
    );
    expect(answers).toEqual(Array.from({ length: 20 }, (_, index) => `echo:hello ${index}`));
  });

  it("stop() ends the bridge by PID and removes the socket; the port is closed", async () => {
    if (forward === undefined) throw new Error("no forward");
    const { pid, socketPath, address } = forward;
    expect(existsSync(socketPath)).toBe(true);
    await forward.stop();
    await forward.stop();
    expect(isPidAlive(pid)).toBe(false);
    expect(existsSync(socketPath)).toBe(false);
    await expect(exchange(address, "after stop")).rejects.toThrow();
  });
});
