import { describe, expect, it } from "vitest";
import {
  NewestValueWriter,
  type WriteDone,
  type WriteFailurePolicy,
} from "../../src/util/newest-value-writer.js";

/** A destination whose writes end only when the test says so. */
class HeldWrites {
  readonly written: number[] = [];
  private readonly waiting: WriteDone[] = [];

  readonly write = (value: number, done: WriteDone): void => {
    this.written.push(value);
    this.waiting.push(done);
  };

  /** The oldest write ends (with the error when one is given). */
  end(error?: Error): void {
    this.waiting.shift()?.(error);
  }

  get inFlight(): number {
    return this.waiting.length;
  }
}

function writerOn(policy: WriteFailurePolicy): { writer: NewestValueWriter<number>; held: HeldWrites } {
  const held = new HeldWrites();
  return { writer: new NewestValueWriter(held.write, policy), held };
}

describe("NewestValueWriter", () => {
  it("writes at once when idle; while a write is in flight only the newest value follows it", () => {
    const { writer, held } = writerOn("continue");
    writer.write(1);
    expect(held.written).toEqual([1]);
    writer.write(2);
    writer.write(3);
    writer.write(4);
    expect(held.written).toEqual([1]);
    expect(held.inFlight).toBe(1);
    held.end();
    expect(held.written).toEqual([1, 4]);
    held.end();
    expect(held.inFlight).toBe(0);
    writer.write(5);
    expect(held.written).toEqual([1, 4, 5]);
  });

  it('"stop": a failed write ends writing for good, the pending value too', () => {
    const { writer, held } = writerOn("stop");
    writer.write(1);
    writer.write(2);
    held.end(new Error("EPIPE"));
    writer.write(3);
    expect(held.written).toEqual([1]);
    expect(held.inFlight).toBe(0);
  });

  it('"continue": a failed write is dropped and the next value written', () => {
    const { writer, held } = writerOn("continue");
    writer.write(1);
    writer.write(2);
    held.end(new Error("EIO"));
    expect(held.written).toEqual([1, 2]);
    held.end(new Error("EIO"));
    writer.write(3);
    expect(held.written).toEqual([1, 2, 3]);
  });

  it("a write that throws counts as a failed one; write() never throws", () => {
    for (const [policy, expected] of [
      ["stop", 1],
      ["continue", 2],
    ] as const) {
      let calls = 0;
      const writer = new NewestValueWriter<number>(() => {
        calls += 1;
        throw new Error("write after end");
      }, policy);
      expect(() => {
        writer.write(1);
        writer.write(2);
      }).not.toThrow();
      expect(calls, policy).toBe(expected);
    }
  });

  it("a write that ends at once (before returning) lets the next value through", () => {
    const written: number[] = [];
    const writer = new NewestValueWriter<number>((value, done) => {
      written.push(value);
      done();
    }, "stop");
    writer.write(1);
    writer.write(2);
    expect(written).toEqual([1, 2]);
  });

  it("only the first end of a write counts", () => {
    const written: number[] = [];
    const ends: WriteDone[] = [];
    const writer = new NewestValueWriter<number>((value, done) => {
      written.push(value);
      ends.push(done);
    }, "continue");
    writer.write(1);
    writer.write(2);
    ends[0]?.(); // 1 ended: 2 is written
    writer.write(3);
    ends[0]?.(); // 1 again: 2 is still in flight, 3 waits
    expect(written).toEqual([1, 2]);
    ends[1]?.();
    expect(written).toEqual([1, 2, 3]);
  });

  it("close() waits for the write in flight and drops the pending value; later values are ignored", async () => {
    const { writer, held } = writerOn("continue");
    writer.write(1);
    writer.write(2);
    let closed = false;
    const closing = writer.close().then(() => (closed = true));
    expect(writer.close()).toBe(writer.close());
    await new Promise((resolve) => setImmediate(resolve));
    expect(closed).toBe(false);
    held.end();
    await closing;
    expect(closed).toBe(true);
    writer.write(3);
    expect(held.written).toEqual([1]);
  });

  it("close() with nothing in flight resolves at once", async () => {
    const { writer, held } = writerOn("stop");
    writer.write(1);
    held.end();
    await writer.close();
    writer.write(2);
    expect(held.written).toEqual([1]);
  });
});
