/**
 * The SessionHandover contract: what every adapter (the file, the in-memory one) must do for a
 * daemon that leaves its session to its successor, and for the crash guard that watches the time.
 */
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { SessionHandover } from "../../src/kv/session-handover.js";

export interface SessionHandoverFixture {
  /** The leaving daemon's view. */
  handover: SessionHandover;
  /** Another process's view of the same storage (the successor, the crash guard). */
  other: () => SessionHandover;
  close?: () => Promise<void>;
}

export function sessionHandoverContract(
  name: string,
  factory: () => SessionHandoverFixture | Promise<SessionHandoverFixture>,
): void {
  describe(`SessionHandover contract: ${name}`, () => {
    let current: SessionHandoverFixture | undefined;
    beforeEach(async () => {
      current = await factory();
    });
    afterEach(async () => {
      await current?.close?.();
      current = undefined;
    });
    const fixture = (): SessionHandoverFixture => {
      if (current === undefined) throw new Error("no fixture outside a test");
      return current;
    };

    it("has nothing to claim or peek at first", async () => {
      const { handover } = fixture();
      expect(await handover.peek()).toBeUndefined();
      expect(await handover.claim()).toBeUndefined();
    });

    it("hands the session over with the time left; peeking leaves it, the first claim takes it", async () => {
      const { handover, other } = fixture();
      const id = randomUUID();
      await handover.leave(id, 5000);
      const seen = await other().peek();
      expect(seen?.sessionId).toBe(id);
      expect(seen?.remainingMs).toBeGreaterThan(4000);
      expect(seen?.remainingMs).toBeLessThanOrEqual(5000);
      const claimed = await other().claim();
      expect(claimed?.sessionId).toBe(id);
      expect(await handover.claim()).toBeUndefined();
      expect(await other().peek()).toBeUndefined();
    });

    it("says when the time is up", async () => {
      const { handover, other } = fixture();
      await handover.leave(randomUUID(), 30);
      await sleep(60);
      expect((await other().peek())?.remainingMs).toBeLessThanOrEqual(0);
      expect((await other().claim())?.remainingMs).toBeLessThanOrEqual(0);
    });

    it("of two claims at once, exactly one gets the record", async () => {
      const { handover, other } = fixture();
      const id = randomUUID();
      await handover.leave(id, 5000);
      const claims = await Promise.all([other().claim(), other().claim(), handover.claim()]);
      expect(claims.filter((claim) => claim !== undefined).map((claim) => claim.sessionId)).toEqual([id]);
    });

    it("a new hand-over replaces an older one", async () => {
      const { handover, other } = fixture();
      await handover.leave(randomUUID(), 5000);
      const newer = randomUUID();
      await handover.leave(newer, 5000);
      expect((await other().claim())?.sessionId).toBe(newer);
      expect(await other().claim()).toBeUndefined();
    });
  });
}
