import { describe, expect, it } from "vitest";
import {
  LEASE_UNTIL_PREFIX,
  LeaseLineWriter,
  crashGuardArgs,
  leaseUntilLine,
  type LeasePipe,
} from "../../src/crash-guard/crash-guard.js";
import { parseLeaseUntilLine } from "../../src/crash-guard/guard-input.js";
import { settle } from "../../src/testing/manual-clock.js";
import { monotonicNowMs } from "../../src/util/monotonic-clock.js";

/** A pipe that takes a line only when the test says so (a guard that is not reading). */
class HeldPipe implements LeasePipe {
  writableEnded = false;
  destroyed = false;
  readonly written: string[] = [];
  private readonly waiting: ((error?: Error | null) => void)[] = [];

  write(chunk: string, callback: (error?: Error | null) => void): boolean {
    if (this.throwOnWrite) throw new Error("write after end");
    this.written.push(chunk);
    this.waiting.push(callback);
    return true;
  }

  throwOnWrite = false;

  /** The oldest write is taken (or fails). */
  take(error?: Error): void {
    this.waiting.shift()?.(error ?? null);
  }

  get held(): number {
    return this.waiting.length;
  }
}

describe("crash guard: lease-until lines from sanpathd", () => {
  it("a line is `lease-until <whole ms>`, rounded down, and the guard parses it back", () => {
    expect(LEASE_UNTIL_PREFIX).toBe("lease-until");
    expect(leaseUntilLine(123_456.9)).toBe("lease-until 123456\n");
    expect(leaseUntilLine(-5)).toBe("lease-until 0\n");
    const now = monotonicNowMs();
    expect(parseLeaseUntilLine(leaseUntilLine(now + 500).trimEnd())).toEqual({
      deadlineMs: Math.floor(now + 500),
    });
  });

  it("monotonicNowMs is CLOCK_MONOTONIC in ms (process.hrtime), moving with performance.now", async () => {
    const hr = Number(process.hrtime.bigint()) / 1e6;
    const now = monotonicNowMs();
    expect(now - hr).toBeGreaterThanOrEqual(0);
    expect(now - hr).toBeLessThan(50);
    const before = [monotonicNowMs(), performance.now()] as const;
    await new Promise((resolve) => setTimeout(resolve, 30));
    const elapsed = monotonicNowMs() - before[0];
    expect(Math.abs(elapsed - (performance.now() - before[1]))).toBeLessThan(20);
  });

  it("writes at once while the pipe takes each line", async () => {
    const pipe = new HeldPipe();
    const writer = new LeaseLineWriter(pipe);
    writer.write(1_000);
    pipe.take();
    await settle();
    writer.write(1_250);
    expect(pipe.written).toEqual(["lease-until 1000\n", "lease-until 1250\n"]);
  });

  it("coalesces while a line is still buffered: only the newest is written after it", () => {
    const pipe = new HeldPipe();
    const writer = new LeaseLineWriter(pipe);
    writer.write(1_000);
    writer.write(1_250);
    writer.write(1_500);
    writer.write(1_750);
    expect(pipe.written).toEqual(["lease-until 1000\n"]);
    expect(pipe.held).toBe(1);
    pipe.take();
    expect(pipe.written).toEqual(["lease-until 1000\n", "lease-until 1750\n"]);
    pipe.take();
    expect(pipe.held).toBe(0);
    expect(pipe.written).toHaveLength(2);
  });

  it("never throws: ignores non-finite values, an ended or broken pipe, and a write that throws", () => {
    const pipe = new HeldPipe();
    const writer = new LeaseLineWriter(pipe);
    writer.write(Number.NaN);
    writer.write(Number.POSITIVE_INFINITY);
    expect(pipe.written).toEqual([]);

    writer.write(1_000);
    pipe.take(new Error("EPIPE"));
    writer.write(2_000);
    expect(pipe.written).toEqual(["lease-until 1000\n"]);

    const ended = new HeldPipe();
    ended.writableEnded = true;
    new LeaseLineWriter(ended).write(1_000);
    const destroyed = new HeldPipe();
    destroyed.destroyed = true;
    new LeaseLineWriter(destroyed).write(1_000);
    expect([...ended.written, ...destroyed.written]).toEqual([]);

    const throwing = new HeldPipe();
    throwing.throwOnWrite = true;
    const writerOfThrowing = new LeaseLineWriter(throwing);
    expect(() => {
      writerOfThrowing.write(1_000);
      writerOfThrowing.write(2_000);
    }).not.toThrow();
  });

  it("a value kept while a line was buffered is dropped when the pipe ends meanwhile", () => {
    const pipe = new HeldPipe();
    const writer = new LeaseLineWriter(pipe);
    writer.write(1_000);
    writer.write(2_000);
    pipe.writableEnded = true;
    pipe.take();
    expect(pipe.written).toEqual(["lease-until 1000\n"]);
  });

  it("the guard gets --lease-file only when a lease file is set", () => {
    const settings = {
      journalFile: "/data/node-paths.json",
      handoverFile: "/data/handover.json",
      target: { driver: "tgt" as const, tgtControlPort: 0, tgtStateFile: "/data/tgt.json" },
      logLevel: "info",
    };
    expect(crashGuardArgs(settings)).not.toContain("--lease-file");
    const args = crashGuardArgs({ ...settings, leaseFile: "/data/lease-until" });
    expect(args.slice(args.indexOf("--lease-file"))).toEqual(["--lease-file", "/data/lease-until"]);
  });
});
