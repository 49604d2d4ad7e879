import { cleanUpAll } from "../support/clean-up.js";
import { createServer as createHttpServer } from "node:http";
import { createServer, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConsulClient } from "../../src/consul/consul-client.js";
import { ConsulKeys } from "../../src/consul/keys.js";
import { SanpathError } from "../../src/errors/sanpath-error.js";
import { freePort } from "../../src/util/free-port.js";
import { startConsulHarness, type ConsulHarness } from "../harness/consul.js";
import { rejection } from "../support/thrown.js";

describe("ConsulClient against a real agent", () => {
  let consul: ConsulHarness;
  let client: ConsulClient;
  beforeAll(async () => {
    consul = await startConsulHarness("consul-client");
    client = new ConsulClient({ address: consul.agent.httpAddress });
  });
  afterAll(async () => {
    await cleanUpAll(
      () => client.close(),
      () => consul.stop(),
    );
  });

  it("writes, reads, lists and deletes keys", async () => {
    expect(await client.put("t/kv/a", "ä value", { flags: 7 })).toBe(true);
    expect(await client.put("t/kv/b/c", "")).toBe(true);
    const a = await client.get("t/kv/a");
    expect(a).toMatchObject({ key: "t/kv/a", value: "ä value", flags: 7, lockIndex: 0 });
    expect(a?.session).toBeUndefined();
    expect(a?.modifyIndex).toBeGreaterThan(0);
    expect(a?.createIndex).toBe(a?.modifyIndex);
    expect((await client.get("t/kv/b/c"))?.value).toBe("");
    expect(await client.get("t/kv/missing")).toBeUndefined();

    const listed = await client.list("t/kv/");
    expect(listed.map((entry) => entry.key)).toEqual(["t/kv/a", "t/kv/b/c"]);
    expect(await client.list("t/none/")).toEqual([]);
    expect(await client.keys("t/kv/")).toEqual(["t/kv/a", "t/kv/b/c"]);
    expect(await client.keys("t/kv/", { separator: "/" })).toEqual(["t/kv/a", "t/kv/b/"]);
    expect(await client.keys("t/none/")).toEqual([]);

    expect(await client.delete("t/kv/", { recurse: true })).toBe(true);
    expect(await client.list("t/kv/")).toEqual([]);
  });

  it("reports a CAS conflict as false, not success", async () => {
    expect(await client.put("t/cas/x", "1", { cas: 0 })).toBe(true);
    // cas 0 = only if absent: the key exists now.
    expect(await client.put("t/cas/x", "2", { cas: 0 })).toBe(false);
    const entry = await client.get("t/cas/x");
    if (entry === undefined) throw new Error("t/cas/x missing");
    expect(await client.put("t/cas/x", "3", { cas: entry.modifyIndex + 1000 })).toBe(false);
    expect(await client.delete("t/cas/x", { cas: entry.modifyIndex + 1000 })).toBe(false);
    expect((await client.get("t/cas/x"))?.value).toBe("1");
    expect(await client.put("t/cas/x", "4", { cas: entry.modifyIndex })).toBe(true);
    const updated = await client.get("t/cas/x");
    expect(updated?.value).toBe("4");
    expect(await client.delete("t/cas/x", { cas: updated?.modifyIndex ?? 0 })).toBe(true);
    expect(await client.get("t/cas/x")).toBeUndefined();
  });

  it("stores keys from ConsulKeys verbatim, percent-encoded names and path keys included", async () => {
    const layout = new ConsulKeys(`t/layout-${process.pid}`);
    const written = [
      layout.diskName("A/b .. 100%"),
      layout.diskName(".."),
      layout.diskPath("00001", 1),
      layout.disk("00001"),
    ];
    for (const key of written) expect(await client.put(key, "x")).toBe(true);
    expect(await client.keys(`${layout.root}/`)).toEqual([...written].sort());
    expect(await client.keys(layout.diskNames())).toEqual(
      [layout.diskName(".."), layout.diskName("a/b .. 100%")].sort(),
    );
    expect((await client.get(layout.diskName("A/B .. 100%")))?.key).toBe(layout.diskName("a/b .. 100%"));
    const paths = await client.list(layout.diskPaths("00001"));
    expect(paths.map((entry) => layout.parseDiskPath(entry.key))).toEqual([{ diskId: "00001", index: 1 }]);
  });

  it("rejects keys with a leading slash", async () => {
    await expect(client.get("/t/x")).rejects.toMatchObject({ kind: "invalid_argument", field: "key" });
    await expect(client.put("/t/x", "v")).rejects.toMatchObject({ kind: "invalid_argument" });
    await expect(client.list("/t/")).rejects.toMatchObject({ kind: "invalid_argument", field: "prefix" });
  });

  it("blocks until the key changes and returns the new index", async () => {
    await client.put("t/block/k", "v1");
    const first = await client.getBlocking("t/block/k", { index: 0, waitSeconds: 5 });
    expect(first.entry?.value).toBe("v1");
    expect(first.reset).toBe(false);
    const waiting = client.getBlocking("t/block/k", { index: first.index, waitSeconds: 30 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    await client.put("t/block/k", "v2");
    const second = await waiting;
    expect(second.entry?.value).toBe("v2");
    expect(second.index).toBeGreaterThan(first.index);

    const listed = await client.listBlocking("t/block/", { index: 0, waitSeconds: 5 });
    expect(listed.entries.map((entry) => entry.value)).toEqual(["v2"]);
    expect(listed.index).toBeGreaterThanOrEqual(1);

    const missing = await client.getBlocking("t/block/none", { index: 0, waitSeconds: 5 });
    expect(missing.entry).toBeUndefined();
    expect(missing.index).toBeGreaterThanOrEqual(1);
  });

  it("treats an index that went backwards as a reset to 0", async () => {
    const now = await client.getBlocking("t/block/k", { index: 0, waitSeconds: 5 });
    const ahead = await client.getBlocking("t/block/k", { index: now.index + 1_000_000, waitSeconds: 1 });
    expect(ahead.reset).toBe(true);
    expect(ahead.index).toBe(0);
    expect(ahead.entry?.value).toBe("v2");
  });

  it("cancels a blocking query when the signal aborts", async () => {
    const first = await client.getBlocking("t/block/k", { index: 0, waitSeconds: 5 });
    const controller = new AbortController();
    const waiting = client.getBlocking("t/block/k", {
      index: first.index,
      waitSeconds: 60,
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(), 50);
    await expect(waiting).rejects.toMatchObject({ kind: "cancelled" });
    await expect(client.get("t/block/k", { signal: controller.signal })).rejects.toMatchObject({
      kind: "cancelled",
    });
  });

  it("names the raft leader and the agent's node", async () => {
    expect(await client.leader()).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(await client.agentNodeName()).toBe(consul.agent.nodeName);
  });

  it("reports an unreachable agent as unavailable with the cause kept", async () => {
    const port = await freePort();
    const nowhere = new ConsulClient({ address: `127.0.0.1:${port}`, timeoutMs: 1000 });
    try {
      const error = await rejection(nowhere.get("t/x"));
      expect(error).toBeInstanceOf(SanpathError);
      expect(error).toMatchObject({ kind: "unavailable", reason: "CONSUL_UNAVAILABLE" });
      expect((error as SanpathError).cause).toBeDefined();
      await expect(nowhere.put("t/x", "v")).rejects.toMatchObject({ reason: "CONSUL_UNAVAILABLE" });
      await expect(nowhere.leader()).rejects.toMatchObject({ reason: "CONSUL_UNAVAILABLE" });
    } finally {
      nowhere.close();
    }
  });

  it("reports a silent agent (no answer within the deadline) as unavailable", async () => {
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const address = silent.address();
    if (address === null || typeof address === "string") throw new Error("no port");
    const slow = new ConsulClient({ address: `127.0.0.1:${address.port}`, timeoutMs: 200 });
    try {
      await expect(slow.get("t/x")).rejects.toMatchObject({
        kind: "unavailable",
        reason: "CONSUL_UNAVAILABLE",
        message: expect.stringContaining("no answer within 200 ms") as unknown,
      });
    } finally {
      slow.close();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it("at a raft leader change, ends its idempotent requests in flight (to be sent again) and leaves writes waiting", async () => {
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const address = silent.address();
    if (address === null || typeof address === "string") throw new Error("no port");
    const stuck = new ConsulClient({ address: `127.0.0.1:${address.port}`, timeoutMs: 5000 });
    try {
      const read = stuck.get("t/x");
      const blocking = stuck.listBlocking("t/", { index: 7, waitSeconds: 30 });
      const renew = stuck.call("session.renew", {}, (raw, common) =>
        raw.session.renew({ ...common, id: "s" }),
      );
      let writeSettled = false;
      const write = stuck.put("t/x", "v").finally(() => {
        writeSettled = true;
      });
      write.catch(() => undefined);
      while (sockets.size < 4) await new Promise((resolve) => setTimeout(resolve, 5));

      expect(stuck.abandonIdempotentRequests("the raft leader changed from a to b")).toBe(3);
      for (const abandoned of [read, blocking, renew]) {
        await expect(abandoned).rejects.toMatchObject({
          kind: "unavailable",
          reason: "CONSUL_UNAVAILABLE",
          message: expect.stringContaining("abandoned: the raft leader changed from a to b") as unknown,
        });
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(writeSettled).toBe(false);
      expect(stuck.abandonIdempotentRequests("again")).toBe(0);
    } finally {
      stuck.close();
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it("sends the ACL token as X-Consul-Token and maps 403 to permission_denied", async () => {
    const seenTokens: (string | undefined)[] = [];
    const acl = createHttpServer((request, response) => {
      const token = request.headers["x-consul-token"];
      seenTokens.push(typeof token === "string" ? token : undefined);
      response.writeHead(403, { "content-type": "text/plain" }).end("Permission denied");
    });
    await new Promise<void>((resolve) => acl.listen(0, "127.0.0.1", resolve));
    const address = acl.address();
    if (address === null || typeof address === "string") throw new Error("no port");
    const withToken = new ConsulClient({ address: `127.0.0.1:${address.port}`, token: "s3cr3t-token" });
    try {
      const error = await rejection(withToken.get("t/x"));
      expect(error).toMatchObject({ kind: "permission_denied", reason: "PERMISSION_DENIED" });
      expect((error as Error).message).not.toContain("s3cr3t-token");
      expect(seenTokens).toEqual(["s3cr3t-token"]);
    } finally {
      withToken.close();
      await new Promise((resolve) => acl.close(resolve));
    }
  });

  it("rejects a malformed address", () => {
    expect(() => new ConsulClient({ address: "localhost" })).toThrow(/host:port/);
    expect(() => new ConsulClient({ address: "127.0.0.1:99999" })).toThrow(/host:port/);
  });
});
