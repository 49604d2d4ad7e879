import { describe, expect, it } from "vitest";
import { KeyedQueue } from "../../src/util/keyed-queue.js";

describe("KeyedQueue", () => {
  it("runs tasks of one key in order, even after a failure, and other keys alongside", async () => {
    const queue = new KeyedQueue();
    const log: string[] = [];
    let releaseFirst: () => void = () => undefined;
    const first = queue.run("a", async () => {
      await new Promise<void>((resolve) => (releaseFirst = resolve));
      log.push("a1");
      throw new Error("a1 failed");
    });
    const second = queue.run("a", () => {
      log.push("a2");
      return Promise.resolve("a2 done");
    });
    await queue.run("b", () => {
      log.push("b1");
      return Promise.resolve();
    });
    releaseFirst();
    await expect(first).rejects.toThrow("a1 failed");
    await expect(second).resolves.toBe("a2 done");
    expect(log).toEqual(["b1", "a1", "a2"]);
  });
});
