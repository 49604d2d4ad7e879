import { describe, expect, it } from "vitest";
import { SharedExclusiveLock } from "../../src/util/shared-exclusive-lock.js";

/** A section that records when it starts and ends, and ends when told to. */
function section(log: string[], name: string): { run: () => Promise<void>; finish: () => void } {
  let finish = (): void => undefined;
  const done = new Promise<void>((resolve) => (finish = resolve));
  return {
    run: async () => {
      log.push(`${name} start`);
      await done;
      log.push(`${name} end`);
    },
    finish: () => finish(),
  };
}

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe("SharedExclusiveLock", () => {
  it("runs shared sections together, an exclusive one alone, and a waiting exclusive before later shared ones", async () => {
    const lock = new SharedExclusiveLock();
    const log: string[] = [];
    const [a, b, x, c] = ["a", "b", "x", "c"].map((name) => section(log, name));
    if (a === undefined || b === undefined || x === undefined || c === undefined) throw new Error("sections");
    const running = [lock.shared(a.run), lock.shared(b.run), lock.exclusive(x.run), lock.shared(c.run)];
    await turn();
    // a and b together; x waits for them; c, asked after x, waits for x.
    expect(log).toEqual(["a start", "b start"]);
    a.finish();
    await turn();
    expect(log).toEqual(["a start", "b start", "a end"]);
    b.finish();
    await turn();
    expect(log).toEqual(["a start", "b start", "a end", "b end", "x start"]);
    x.finish();
    await turn();
    expect(log.slice(-2)).toEqual(["x end", "c start"]);
    c.finish();
    await Promise.all(running);
    expect(log.at(-1)).toBe("c end");
  });

  it("releases the lock when a section throws", async () => {
    const lock = new SharedExclusiveLock();
    await expect(lock.exclusive(() => Promise.reject(new Error("boom")))).rejects.toThrow("boom");
    await expect(lock.shared(() => Promise.reject(new Error("again")))).rejects.toThrow("again");
    expect(await lock.exclusive(() => Promise.resolve("free"))).toBe("free");
  });
});
