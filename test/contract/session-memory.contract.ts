/**
 * The SessionMemory contract: what every SessionMemory (the state file, the in-memory one) must do.
 */
import { randomUUID } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { SessionMemory } from "../../src/kv/session-memory.js";

export interface SessionMemoryFixture {
  memory: SessionMemory;
  /** A memory over the same storage (a restarted daemon's); the same object when storage is the object. */
  reopen: () => SessionMemory;
  close?: () => Promise<void>;
}

export function sessionMemoryContract(
  name: string,
  factory: () => SessionMemoryFixture | Promise<SessionMemoryFixture>,
): void {
  describe(`SessionMemory contract: ${name}`, () => {
    let current: SessionMemoryFixture | undefined;
    beforeEach(async () => {
      current = await factory();
    });
    afterEach(async () => {
      await current?.close?.();
      current = undefined;
    });
    const fixture = (): SessionMemoryFixture => {
      if (current === undefined) throw new Error("no fixture outside a test");
      return current;
    };
    const [active, retiring1, retiring2] = [randomUUID(), randomUUID(), randomUUID()];

    it("remembers nothing at first, and forgetting nothing is fine", async () => {
      const { memory } = fixture();
      expect(await memory.read()).toEqual([]);
      await memory.forget();
      expect(await memory.read()).toEqual([]);
    });

    it("remembers the active session first, then the retiring ones", async () => {
      const { memory } = fixture();
      await memory.write(active, []);
      expect(await memory.read()).toEqual([active]);
      await memory.write(active, [retiring1, retiring2]);
      expect(await memory.read()).toEqual([active, retiring1, retiring2]);
    });

    it("a write replaces what was remembered; forget forgets it all", async () => {
      const { memory } = fixture();
      await memory.write(active, [retiring1]);
      await memory.write(retiring2, []);
      expect(await memory.read()).toEqual([retiring2]);
      await memory.forget();
      expect(await memory.read()).toEqual([]);
    });

    it("lists each session once, and only session ids", async () => {
      const { memory } = fixture();
      await memory.write(active, [retiring1, active, retiring1]);
      expect(await memory.read()).toEqual([active, retiring1]);
      await memory.write("not-a-session", [retiring2]);
      expect(await memory.read()).toEqual([retiring2]);
    });

    it("what one memory wrote, another over the same storage reads", async () => {
      const { memory, reopen } = fixture();
      await memory.write(active, [retiring1]);
      expect(await reopen().read()).toEqual([active, retiring1]);
      await reopen().forget();
      expect(await memory.read()).toEqual([]);
    });
  });
}
