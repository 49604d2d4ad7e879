import { createServer, type Server, type Socket } from "node:net";
import { afterAll, describe, expect, it } from "vitest";
import { connectRbd } from "../../native/index.js";
import { SanpathError } from "../../src/errors/sanpath-error.js";
import { freePort } from "../../src/util/free-port.js";
import { createImageStore } from "../../src/storage/create-image-store.js";
import { openRbdImageStore } from "../../src/storage/rbd-image-store.js";
import { startCephHarness, type CephHarness } from "../harness/ceph.js";
import { isAlive } from "../harness/sanpathd.js";
import { untilTrue } from "../support/until.js";

const TICK_MS = 50;
// A syntactically valid cephx secret: the client gets as far as talking to a monitor.
const SOME_CEPHX_KEY = "AQBvaBhmAAAAABAAk2eCF0pKtlV1E8bXzwx0uw==";

/**
 * Runs `call` while a 50 ms interval ticks on the event loop; returns how it failed and the ticks
 * counted meanwhile. A call that blocked the event loop would leave the count near zero.
 */
async function failureWhileTicking(call: () => Promise<unknown>): Promise<{ error: unknown; ticks: number }> {
  let ticks = 0;
  const timer = setInterval(() => {
    ticks++;
  }, TICK_MS);
  try {
    const error: unknown = await call().then(
      () => new Error("the call succeeded although Ceph cannot answer"),
      (failure: unknown) => failure,
    );
    return { error, ticks };
  } finally {
    clearInterval(timer);
  }
}

function expectUnreachable(error: unknown): SanpathError {
  expect(error).toBeInstanceOf(SanpathError);
  const sanpathError = error as SanpathError;
  expect(sanpathError.kind).toBe("unavailable");
  expect(sanpathError.reason).toBe("CEPH_UNAVAILABLE");
  expect(sanpathError.message).toMatch(/Ceph is unreachable/);
  expect(sanpathError.cause).toMatchObject({ errno: -110, code: "ETIMEDOUT" });
  return sanpathError;
}

describe("rbd with a Ceph that does not answer", () => {
  const servers: Server[] = [];
  const sockets = new Set<Socket>();
  let ceph: CephHarness | undefined;

  afterAll(async () => {
    for (const socket of sockets) socket.destroy();
    await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
    await ceph?.stop();
  });

  it("connect to a port where no monitor listens fails as unreachable while the event loop keeps ticking", async () => {
    const port = await freePort();
    const { error, ticks } = await failureWhileTicking(() =>
      connectRbd({ monHost: `127.0.0.1:${port}`, key: SOME_CEPHX_KEY, clientMountTimeoutMs: 2000 }),
    );
    const unreachable = expectUnreachable(error);
    expect(unreachable.message).toContain(`127.0.0.1:${port}`);
    expect(unreachable.message).toMatch(/within 2 s/);
    expect(ticks).toBeGreaterThan(10);
  });

  it("a monitor that accepts connections but never answers is unreachable too, through the ImageStore", async () => {
    const silent = createServer((socket) => {
      sockets.add(socket);
      socket.on("error", () => undefined);
    });
    servers.push(silent);
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const address = silent.address();
    if (address === null || typeof address === "string") throw new Error("no address for the silent server");
    const { error, ticks } = await failureWhileTicking(() =>
      openRbdImageStore({
        pool: "rbd",
        connect: { monHost: `127.0.0.1:${address.port}`, key: SOME_CEPHX_KEY, clientMountTimeoutMs: 2000 },
      }),
    );
    expectUnreachable(error);
    expect(sockets.size).toBeGreaterThan(0);
    expect(ticks).toBeGreaterThan(10);
  });

  it("once connected, calls time out as unreachable when the OSD is gone, without blocking the loop", async () => {
    ceph = await startCephHarness({ name: "rbd-unreachable" });
    const store = await createImageStore(
      {
        dataDir: ceph.dir,
        imageStore: { kind: "rbd", pool: ceph.pool, cephConf: ceph.confPath, cephUser: "admin" },
      },
      { rbd: { osdOpTimeoutMs: 2000, monOpTimeoutMs: 2000 } },
    );
    try {
      await store.create("image-00001", 1024 * 1024);
      const osdPid = ceph.osdPid;
      process.kill(osdPid, "SIGTERM");
      await untilTrue("the OSD to stop", () => !isAlive(osdPid), { timeoutMs: 20_000, intervalMs: 50 });
      const { error, ticks } = await failureWhileTicking(() => store.writeMetadata("image-00001", "{}"));
      const unreachable = expectUnreachable(error);
      expect(unreachable.message).toMatch(/rbd metadata_set rbd\/image-00001 got no answer within 2 s/);
      expect(ticks).toBeGreaterThan(10);
    } finally {
      await store.close();
    }
  });
});
