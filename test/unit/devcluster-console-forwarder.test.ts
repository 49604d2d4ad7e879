import { mkdtempSync, rmSync } from "node:fs";
import { createConnection, createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { startConsoleForwarder } from "../../src/devcluster/console-forwarder.js";

const dir = mkdtempSync(join(tmpdir(), `sanpath-forward-${process.pid}-`));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A unix socket server that answers each line with "<name>:<line>". */
async function upstream(name: string): Promise<{ path: string; server: Server }> {
  const path = join(dir, `${name}.sock`);
  const server = createServer((socket) =>
    socket.on("data", (data) => socket.write(`${name}:${data.toString()}`)),
  );
  await new Promise<void>((resolve) => server.listen(path, resolve));
  cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { path, server };
}

/** What the other end answered before the connection closed (a reset counts as closed). */
function roundTrip(port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = createConnection(port, "127.0.0.1");
    let answer = "";
    socket.on("data", (data) => {
      answer += data.toString();
      socket.end();
    });
    socket.on("close", () => resolve(answer));
    socket.on("error", () => resolve(answer));
    socket.write(text);
  });
}

describe("the dev cluster's console forwarder", () => {
  it("pipes loopback connections to the first node socket that answers, skipping dead ones", async () => {
    const node2 = await upstream("node2");
    const node3 = await upstream("node3");
    const forwarder = await startConsoleForwarder({
      host: "127.0.0.1",
      port: 0,
      sockets: [join(dir, "node1-dead.sock"), node2.path, node3.path],
    });
    cleanups.push(() => forwarder.close());
    expect(await roundTrip(forwarder.port, "hello")).toBe("node2:hello");
    await new Promise<void>((resolve) => node2.server.close(() => resolve()));
    expect(await roundTrip(forwarder.port, "again")).toBe("node3:again");
  });

  it("closes a connection when no node answers", async () => {
    const forwarder = await startConsoleForwarder({
      host: "127.0.0.1",
      port: 0,
      sockets: [join(dir, "none.sock")],
    });
    cleanups.push(() => forwarder.close());
    expect(await roundTrip(forwarder.port, "anyone?")).toBe("");
  });
});
