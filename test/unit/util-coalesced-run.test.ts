/**
 * CoalescedRun (with a read as its work): calls made together share one read; a call made while
 * a read is under way gets the next read (one that started after it), never the one in flight; a
 * failed read rejects only its own callers. Its use as a group-committed write is tested in
 * util-coalescing-file-writer.test.ts.
 */
import { describe, expect, it } from "vitest";
import { CoalescedRun } from "../../src/util/coalesced-run.js";

/** A source whose reads end when the test says; each read answers its own number. */
function gatedSource() {
  const pending: { resolve: (value: number) => void; reject: (error: Error) => void }[] = [];
  let started = 0;
  const read = (): Promise<number> => {
    started += 1;
    const number = started;
    return new Promise<number>((resolve, reject) => {
      pending.push({ resolve: () => resolve(number), reject });
    });
  };
  const settle = async (outcome: "ok" | Error = "ok"): Promise<void> => {
    await until(() => pending.length > 0);
    const next = pending.shift();
    if (outcome === "ok") next?.resolve(0);
    else next?.reject(outcome);
  };
  return { read, settle, started: () => started };
}

async function until(condition: () => boolean): Promise<void> {
  for (let turn = 0; turn < 100 && !condition(); turn += 1) await Promise.resolve();
  if (!condition()) throw new Error("condition not met");
}

describe("CoalescedRun", () => {
  it("calls made together share one read", async () => {
    const source = gatedSource();
    const shared = new CoalescedRun(source.read);
    const answers = Promise.all([shared.request(), shared.request(), shared.request()]);
    await source.settle();
    expect(await answers).toEqual([1, 1, 1]);
    expect(source.started()).toBe(1);
  });

  it("a call made while a read is under way gets the next read; the calls meanwhile share it", async () => {
    const source = gatedSource();
    const shared = new CoalescedRun(source.read);
    const first = shared.request();
    await until(() => source.started() === 1);
    const later = [shared.request(), shared.request()];
    // Not started before the read in flight ends: reads never overlap.
    await Promise.resolve();
    expect(source.started()).toBe(1);
    await source.settle();
    expect(await first).toBe(1);
    await source.settle();
    expect(await Promise.all(later)).toEqual([2, 2]);
    expect(source.started()).toBe(2);
  });

  it("a failed read rejects its own callers only; the next read goes on", async () => {
    const source = gatedSource();
    const shared = new CoalescedRun(source.read);
    const failing = shared.request();
    failing.catch(() => undefined);
    await until(() => source.started() === 1);
    const next = shared.request();
    await source.settle(new Error("procfs gone"));
    await expect(failing).rejects.toThrow("procfs gone");
    await source.settle();
    expect(await next).toBe(2);
  });
});
