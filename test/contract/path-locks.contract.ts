/**
 * The PathLocks contract (node/path-locks.ts), for KvPathLocks over any KvStore that passes the
 * KvStore contract: run over the real Consul adapters and over the in-memory fakes.
 */
import { describe, expect, it } from "vitest";
import { ConsulKeys } from "../../src/consul/keys.js";
import { InvalidSessionError } from "../../src/kv/invalid-session.js";
import { KvPathLocks } from "../../src/node/kv-path-locks.js";
import { rejectionAs } from "../support/thrown.js";
import { useStoreFixture, type StoreFactory } from "./store-fixture.js";

export function pathLocksContract(name: string, factory: StoreFactory): void {
  describe(`PathLocks contract: KvPathLocks over ${name}`, () => {
    const { fixture, session } = useStoreFixture(factory);
    const setup = () => {
      const { kv, prefix } = fixture();
      const keys = new ConsulKeys(prefix.replace(/\/$/, ""));
      return { kv, keys, locks: new KvPathLocks(kv, keys) };
    };
    const p1 = { diskId: "00001", index: 1 };
    const p2 = { diskId: "00001", index: 2 };

    it("one holder at a time, named in the state; re-acquiring by the holder succeeds", async () => {
      const { locks } = setup();
      const a = await session("node a", 0);
      const b = await session("node b", 0);
      expect(await locks.state(p1)).toBeUndefined();
      expect(await locks.acquire(p1, a, "a")).toBe(true);
      expect(await locks.acquire(p1, a, "a")).toBe(true);
      expect(await locks.acquire(p1, b, "b")).toBe(false);
      expect(await locks.state(p1)).toEqual({ session: a, holderName: "a" });
    });

    it("release frees at once (no lock-delay) and only for the holder", async () => {
      const { locks } = setup();
      const a = await session("node a", 5);
      const b = await session("node b", 5);
      await locks.acquire(p1, a, "a");
      expect(await locks.release(p1, b)).toBe(false);
      expect(await locks.release(p1, a)).toBe(true);
      expect(await locks.state(p1)).toEqual({ session: undefined, holderName: "a" });
      expect(await locks.acquire(p1, b, "b")).toBe(true);
      expect(await locks.release(p2, a)).toBe(false);
    });

    it("an ended session frees its locks only after its lock-delay", async () => {
      const { locks } = setup();
      const { sessions, elapse } = fixture();
      const a = await session("node a", 1);
      const b = await session("node b", 0);
      await locks.acquire(p1, a, "a");
      await sessions.destroy(a);
      expect((await locks.state(p1))?.session).toBeUndefined();
      expect(await locks.acquire(p1, b, "b")).toBe(false);
      await elapse(1200);
      expect(await locks.acquire(p1, b, "b")).toBe(true);
    });

    it("heldBy lists exactly the paths a session holds", async () => {
      const { kv, keys, locks } = setup();
      const a = await session("node a", 0);
      const b = await session("node b", 0);
      await locks.acquire(p1, a, "a");
      await locks.acquire(p2, b, "b");
      await locks.acquire({ diskId: "00002", index: 1 }, a, "a");
      // A disk key and an allocation-like key under Disks/ are not paths.
      await kv.put(keys.disk("00003"), "disk");
      expect(
        (await locks.heldBy(a)).sort((x, y) => x.diskId.localeCompare(y.diskId) || x.index - y.index),
      ).toEqual([p1, { diskId: "00002", index: 1 }]);
      expect(await locks.heldBy(b)).toEqual([p2]);
    });

    it("acquiring with a session that does not exist throws InvalidSessionError", async () => {
      const { locks } = setup();
      await rejectionAs(
        InvalidSessionError,
        locks.acquire(p1, "00000000-0000-0000-0000-000000000000", "ghost"),
      );
    });
  });
}
