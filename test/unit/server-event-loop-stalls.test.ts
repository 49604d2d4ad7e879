/** EventLoopStalls: a blocked event loop is logged with how long it was blocked; a busy-free one is not. */
import { describe, expect, it } from "vitest";
import { createLogger } from "../../src/log/logger.js";
import { EventLoopStalls } from "../../src/server/event-loop-stalls.js";

function blockFor(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // busy: nothing else may run
  }
}

describe("EventLoopStalls", () => {
  it("logs a stall at or above the threshold with its length, and nothing for short delays", async () => {
    const lines: { blockedMs?: number; msg?: string }[] = [];
    const logger = createLogger({
      level: "warn",
      destination: { write: (line: string) => lines.push(JSON.parse(line) as { blockedMs?: number }) },
    });
    const watch = new EventLoopStalls({ logger, thresholdMs: 150, tickMs: 20 });
    watch.start();
    try {
      await new Promise((resolve) => setTimeout(resolve, 100));
      blockFor(20);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(watch.stalls).toBe(0);
      blockFor(300);
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(watch.stalls).toBe(1);
      expect(watch.longestStallMs).toBeGreaterThanOrEqual(250);
      expect(lines).toHaveLength(1);
      expect(lines[0]?.msg).toContain("event loop blocked");
      expect(lines[0]?.blockedMs).toBeGreaterThanOrEqual(250);
    } finally {
      watch.stop();
    }
  });
});
