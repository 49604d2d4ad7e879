import { afterEach, beforeEach } from "vitest";
import type { KvStore } from "../../src/kv/kv-store.js";
import type { SessionOptions, SessionStore } from "../../src/kv/session-store.js";
import { TransactionConflictError } from "../../src/kv/transaction-conflict.js";
import type { ManualClock } from "../../src/testing/manual-clock.js";

/** What a contract suite runs against: a KvStore and the SessionStore of the same datacenter. */
export interface StoreFixture {
  kv: KvStore;
  sessions: SessionStore;
  /** A key prefix (ending in "/") no other test of the run uses. */
  prefix: string;
  /** The node a session belongs to when it names none (the agent's node). */
  nodeName: string;
  /**
   * Lets `ms` of the store's time pass: a real wait against a real agent, a clock step for a fake.
   * Keep it short (real agents really wait).
   */
  elapse: (ms: number) => Promise<void>;
  /**
   * Only for a store whose clock a test controls: session TTLs can run out in a test's time. (A
   * real Consul needs TTL >= 10 s and invalidates up to 2 × TTL later: too slow for a test run.)
   */
  clock?: ManualClock;
  close?: () => Promise<void>;
}

export type StoreFactory = () => StoreFixture | Promise<StoreFixture>;

/** A fresh fixture for each test of the enclosing describe, and helpers bound to it. */
export function useStoreFixture(factory: StoreFactory): {
  fixture: () => StoreFixture;
  /** A session that is destroyed after the test (TTL 30 s unless given). */
  session: (name: string, lockDelaySeconds: number, extra?: Partial<SessionOptions>) => Promise<string>;
} {
  let current: StoreFixture | undefined;
  let created: string[] = [];
  beforeEach(async () => {
    current = await factory();
    created = [];
  });
  afterEach(async () => {
    const made = current;
    current = undefined;
    if (made === undefined) return;
    for (const id of created) await made.sessions.destroy(id).catch(() => undefined);
    await made.close?.();
  });
  const fixture = (): StoreFixture => {
    if (current === undefined) throw new Error("no store fixture outside a test");
    return current;
  };
  return {
    fixture,
    session: async (name, lockDelaySeconds, extra = {}) => {
      const id = await fixture().sessions.create({ name, ttlSeconds: 30, lockDelaySeconds, ...extra });
      created.push(id);
      return id;
    },
  };
}

/** The TransactionConflictError a promise rejects with (fails the test on anything else). */
export async function conflictOf(promise: Promise<unknown>): Promise<TransactionConflictError> {
  const error: unknown = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  if (!(error instanceof TransactionConflictError)) {
    throw new Error(`expected a TransactionConflictError, got ${String(error)}`);
  }
  return error;
}

/** The error a promise rejects with (fails the test when it resolves). */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return await promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (caught: unknown) => caught,
  );
}

/** Tracks whether a promise has settled (for "still waiting" checks). */
export function settledFlag(promise: Promise<unknown>): () => boolean {
  let settled = false;
  promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  return () => settled;
}
