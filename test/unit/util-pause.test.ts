import { describe, expect, it } from "vitest";
import { jitteredBackoffMs, pause } from "../../src/util/pause.js";

describe("pause", () => {
  it("resolves true after the wait, false when the signal aborts first or already has", async () => {
    expect(await pause(1, new AbortController().signal)).toBe(true);
    const stopping = new AbortController();
    const waiting = pause(60_000, stopping.signal);
    stopping.abort();
    expect(await waiting).toBe(false);
    expect(await pause(60_000, AbortSignal.abort())).toBe(false);
  });

  it("backs off exponentially from minMs to maxMs, each wait between half the ceiling and the ceiling", () => {
    const ceilings = [100, 200, 400, 800, 1000, 1000];
    ceilings.forEach((ceiling, at) => {
      for (let draw = 0; draw < 50; draw++) {
        const wait = jitteredBackoffMs(at + 1, 100, 1000);
        expect(wait).toBeGreaterThanOrEqual(ceiling / 2);
        expect(wait).toBeLessThanOrEqual(ceiling);
      }
    });
    expect(jitteredBackoffMs(10_000, 100, 1000)).toBeLessThanOrEqual(1000);
  });
});
