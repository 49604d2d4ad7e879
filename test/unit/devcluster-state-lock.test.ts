/**
 * The dev cluster's state lock (src/devcluster/state-lock.ts): one holder at a time, released by
 * its holder only, and a lock left by a process that is gone is taken over.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { lockState, tryLockState } from "../../src/devcluster/state-lock.js";

describe("state lock", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "sanpath-state-lock-"));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("has one holder at a time; released, it can be taken again", () => {
    const first = tryLockState(dir);
    expect(first).toBeDefined();
    expect(tryLockState(dir)).toBeUndefined();
    first?.release();
    const second = tryLockState(dir);
    expect(second).toBeDefined();
    second?.release();
  });

  it("waits for the holder, and gives up after its timeout naming the holder", async () => {
    const held = tryLockState(dir);
    await expect(lockState(dir, 150)).rejects.toThrow(`by pid ${process.pid}`);
    setTimeout(() => held?.release(), 100);
    const lock = await lockState(dir, 5000);
    lock.release();
  });

  it("takes over a lock whose holder is gone", () => {
    // PID 1's start time is not "1": a holder that no longer runs.
    writeFileSync(join(dir, "state.lock"), JSON.stringify({ pid: 1, startTime: "1" }));
    const lock = tryLockState(dir);
    expect(lock).toBeDefined();
    expect(JSON.parse(readFileSync(join(dir, "state.lock"), "utf8"))).toMatchObject({ pid: process.pid });
    lock?.release();
  });

  it("a release by someone who lost the lock leaves the new holder's lock alone", () => {
    const stale = tryLockState(dir);
    writeFileSync(join(dir, "state.lock"), JSON.stringify({ pid: 1, startTime: "1" }));
    const current = tryLockState(dir);
    expect(current).toBeDefined();
    writeFileSync(join(dir, "state.lock"), JSON.stringify({ pid: 1, startTime: "2" }));
    stale?.release();
    expect(JSON.parse(readFileSync(join(dir, "state.lock"), "utf8"))).toEqual({ pid: 1, startTime: "2" });
  });
});
