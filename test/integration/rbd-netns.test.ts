import { execa } from "execa";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCephHarness, type CephHarness } from "../harness/ceph.js";

/** The harness in namespace mode: daemons inside a namespace of their own, reached with `ip netns exec`. */
describe("throw-away Ceph inside a network namespace", () => {
  const namespace = `sanpath-ceph-${process.pid}`;
  const lifetime = new AbortController();
  let namespaceCreated = false;
  let ceph: CephHarness | undefined;

  const ip = async (...args: string[]): Promise<string> =>
    (await execa("ip", args, { timeout: 10_000, cancelSignal: lifetime.signal })).stdout;

  beforeAll(async () => {
    await ip("netns", "add", namespace);
    namespaceCreated = true;
    await ip("-n", namespace, "link", "set", "lo", "up");
    ceph = await startCephHarness({ name: "rbd-netns", netns: { name: namespace, ip: "127.0.0.1" } });
  });

  afterAll(async () => {
    try {
      await ceph?.stop();
    } finally {
      if (namespaceCreated) await ip("netns", "delete", namespace);
      lifetime.abort();
    }
  });

  it("runs the mon and the OSD in the namespace", async () => {
    if (ceph === undefined) throw new Error("the cluster did not start");
    expect(ceph.netns).toBe(namespace);
    expect(ceph.monHost).toBe("[v2:127.0.0.1:3300,v1:127.0.0.1:6789]");
    expect((await ip("netns", "identify", String(ceph.monPid))).trim()).toBe(namespace);
    expect((await ip("netns", "identify", String(ceph.osdPid))).trim()).toBe(namespace);
  });

  it("serves rbd create, ls and image-meta to clients inside the namespace", async () => {
    if (ceph === undefined) throw new Error("the cluster did not start");
    await ceph.cli("rbd", ["create", "--size", "64M", "--image-feature", "layering", "image-00001"]);
    expect((await ceph.cli("rbd", ["ls"])).split("\n")).toEqual(["image-00001"]);
    const record = '{"disk_name": "Datenträger-数据"}';
    await ceph.cli("rbd", ["image-meta", "set", "image-00001", "petasan-metada", record]);
    expect(await ceph.cli("rbd", ["image-meta", "get", "image-00001", "petasan-metada"])).toBe(record);
    const info = JSON.parse(await ceph.cli("rbd", ["info", "--format", "json", "image-00001"])) as {
      size: number;
    };
    expect(info.size).toBe(64 * 1024 * 1024);
  });
});
