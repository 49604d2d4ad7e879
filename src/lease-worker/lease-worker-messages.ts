import type { SanpathdConfig } from "../config/config.js";
import type { LogLevel } from "../log/logger.js";
import type { LeaseSnapshot } from "../node/lease-mirror.js";
import type { LeaseMembers, LeaseStatus, LeaseTiming } from "../node/peer-lease-keeper.js";

/** What the lease worker thread starts with (worker_threads workerData). */
export interface LeaseWorkerData {
  readonly self: string;
  readonly timing: LeaseTiming;
  /** host:port of the worker's own RenewLease listener (port 0: any). */
  readonly listen: string;
  /** For the listener's TLS and caller checks, and the credentials of its renews (as sanpathd's). */
  readonly config: SanpathdConfig;
  readonly logLevel: LogLevel;
  /** CLOCK_MONOTONIC minus the main thread's performance.now(): the lease clock is the main's. */
  readonly clockOffsetMs: number;
  /** The SharedFenceAt both threads read. */
  readonly fenceAt: SharedArrayBuffer;
  /** The crash guard's lease file (crash-guard/lease-file.ts): the worker writes each fenceAt to it. */
  readonly leaseFile?: string | undefined;
  /** The worker stops renewing when the main thread has not said it is alive for this long (ms). */
  readonly mainSilenceLimitMs: number;
}

/** A peer's grant in a form a structured clone keeps (node-rpc.ts LeaseGrant has a Map). */
export interface ClonedGrant {
  readonly node: string;
  readonly granted: boolean;
  readonly silences: readonly (readonly [string, number])[];
}

/** Main thread → worker. */
export type ToLeaseWorker =
  /** The main thread is alive, and who is in the cluster now (sent every few hundred ms). */
  | { readonly kind: "alive"; readonly members: LeaseMembers }
  /** A peer's renew that came to the main gRPC port. */
  | { readonly kind: "answer"; readonly id: number; readonly node: string; readonly holdMs: number }
  /** A restart's hand-over: one renew to every peer asking for a hold. */
  | { readonly kind: "hold"; readonly id: number; readonly holdMs: number }
  /** Stop renewing and granting, close the listener. */
  | { readonly kind: "stop"; readonly id: number };

/** Worker → main thread. */
export type FromLeaseWorker =
  | { readonly kind: "listening"; readonly port: number }
  | { readonly kind: "failed"; readonly message: string }
  | { readonly kind: "snapshot"; readonly snapshot: LeaseSnapshot; readonly status: LeaseStatus }
  | { readonly kind: "answered"; readonly id: number; readonly grant: ClonedGrant }
  | { readonly kind: "done"; readonly id: number }
  /** The worker stopped renewing on its own (the main thread silent too long). */
  | { readonly kind: "gave-up"; readonly reason: string };

const NONE = -(2n ** 63n);
const FOREVER = 2n ** 63n - 1n;

/**
 * One instant (ms, or undefined, or +∞) in shared memory: the worker stores each new fenceAt, the
 * main thread loads it whenever it decides, so a main thread that was blocked reads the worker's
 * newest lease at once, not the message queue's backlog. Stored as whole microseconds with Atomics
 * (a Float64 store is not atomic across threads).
 */
export class SharedInstant {
  private readonly cell: BigInt64Array;

  /** Wraps a buffer made by create() (in the other thread). */
  constructor(readonly buffer: SharedArrayBuffer) {
    this.cell = new BigInt64Array(buffer, 0, 1);
  }

  /** A new instant, undefined until stored. */
  static create(): SharedInstant {
    const instant = new SharedInstant(new SharedArrayBuffer(8));
    instant.store(undefined);
    return instant;
  }

  store(ms: number | undefined): void {
    const value =
      ms === undefined || Number.isNaN(ms)
        ? NONE
        : ms === Number.POSITIVE_INFINITY
          ? FOREVER
          : ms === Number.NEGATIVE_INFINITY
            ? NONE + 1n
            : BigInt(Math.round(ms * 1000));
    Atomics.store(this.cell, 0, value);
  }

  load(): number | undefined {
    const value = Atomics.load(this.cell, 0);
    if (value === NONE) return undefined;
    if (value === FOREVER) return Number.POSITIVE_INFINITY;
    if (value === NONE + 1n) return Number.NEGATIVE_INFINITY;
    return Number(value) / 1000;
  }
}
