import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import type { LeaseGrant } from "../assignment/node-rpc.js";
import type { SanpathdConfig } from "../config/config.js";
import { projectRoot } from "../util/project-root.js";
import type { Logger, LogLevel } from "../log/logger.js";
import { monotonicNowMs } from "../util/monotonic-clock.js";
import { watchLeaseExpiries } from "../node/lease-expiry-watch.js";
import { LeaseMirror } from "../node/lease-mirror.js";
import {
  SharedInstant,
  type FromLeaseWorker,
  type LeaseWorkerData,
  type ToLeaseWorker,
} from "./lease-worker-messages.js";
import type { LeaseMembers, LeaseStatus, LeaseTiming } from "../node/peer-lease-keeper.js";
import type { PeerLease } from "../node/peer-lease-port.js";

/** How often the main thread tells the worker it is alive (and who the members are). */
const ALIVE_EVERY_MS = 200;
/** A main thread silent this long is taken for wedged (the worker then lets the lease end). */
export const MAIN_SILENCE_LIMIT_MS = 5000;

export interface LeaseWorkerOptions {
  readonly self: string;
  readonly timing: LeaseTiming;
  /** host:port of the worker's RenewLease listener (port 0: any). */
  readonly listen: string;
  readonly config: SanpathdConfig;
  readonly logLevel: LogLevel;
  /** Who is in the cluster, read again every ALIVE_EVERY_MS (lease-membership.ts). */
  readonly members: () => LeaseMembers;
  /** The crash guard's lease file, written with each new lease end. */
  readonly leaseFile?: string | undefined;
  readonly logger: Logger;
  /** The worker stopped renewing on its own or died: the lease ends, the node fences. */
  readonly onFailure?: (reason: string) => void;
  readonly mainSilenceLimitMs?: number;
}

/** dist/src/lease-worker/lease-worker-main.js (beside this file when it runs from dist/, else in the build). */
function workerEntry(): string {
  const sibling = fileURLToPath(new URL("./lease-worker-main.js", import.meta.url));
  if (existsSync(sibling)) return sibling;
  const built = join(projectRoot(), "dist", "src", "lease-worker", "lease-worker-main.js");
  if (existsSync(built)) return built;
  throw new Error(
    "the lease worker is not built (dist/src/lease-worker/lease-worker-main.js): run npm run build",
  );
}

/**
 * This node's peer lease, kept on a worker thread (lease-worker-main.ts) with a RenewLease listener
 * of its own, so that a main event loop blocked for a second under load neither misses a renew nor
 * leaves a peer's renew unanswered (issue #18: both survivors of a node's cold start fenced that way).
 *
 * What the main thread reads and why it is safe to read it here:
 *   - fenceAt() is the worker's newest lease end, read from shared memory (SharedInstant) at the
 *     moment of asking: a main thread back from a stall sees every renew the worker got meanwhile.
 *   - expiry proofs and renewedWithin come from the worker's newest snapshot (LeaseMirror): a copy
 *     that is behind proves an expiry later, never earlier.
 *   - status() is the snapshot's, with holds and validForMs from shared memory.
 * The lease clock is the main thread's performance.now(): the worker reads CLOCK_MONOTONIC minus
 * the offset measured here at start.
 */
export class LeaseWorker implements PeerLease {
  private readonly clockOffsetMs: number;
  private readonly shared: SharedInstant;
  private readonly mirror: LeaseMirror;
  private readonly listeners = new Set<() => void>();
  /** Called after each snapshot from the worker (new proof material). */
  private readonly snapshotListeners = new Set<() => void>();
  private readonly waiting = new Map<number, (message: FromLeaseWorker) => void>();
  private worker: Worker | undefined;
  private alive: NodeJS.Timeout | undefined;
  private lastStatus: LeaseStatus | undefined;
  private lastFenceAt: number | undefined;
  private nextId = 1;
  private stopped: Promise<void> | undefined;
  private listeningPort = 0;

  private constructor(private readonly options: LeaseWorkerOptions) {
    this.clockOffsetMs = monotonicNowMs() - performance.now();
    this.shared = SharedInstant.create();
    this.mirror = new LeaseMirror(options.timing, options.self);
  }

  /** Starts the worker; resolves once its listener is bound and it renews. */
  static async start(options: LeaseWorkerOptions): Promise<LeaseWorker> {
    const lease = new LeaseWorker(options);
    await lease.spawn();
    return lease;
  }

  get timing(): LeaseTiming {
    return this.options.timing;
  }

  /** The port the worker's RenewLease listener is bound to. */
  get port(): number {
    return this.listeningPort;
  }

  fenceAt(): number | undefined {
    return this.shared.load();
  }

  holds(now = this.clock()): boolean {
    const fenceAt = this.fenceAt();
    return fenceAt !== undefined && now < fenceAt;
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async answerRenew(node: string, holdMs: number): Promise<LeaseGrant> {
    const answer = await this.ask({ kind: "answer", id: this.nextId++, node, holdMs });
    if (answer?.kind !== "answered") return { node: this.options.self, granted: false, silences: new Map() };
    return {
      node: answer.grant.node,
      granted: answer.grant.granted,
      silences: new Map(answer.grant.silences),
    };
  }

  async holdForHandover(holdMs: number): Promise<void> {
    await this.ask({ kind: "hold", id: this.nextId++, holdMs });
  }

  expiryProven(subject: string, notBefore: number): boolean {
    const size = this.options.members().size;
    return size !== undefined && this.mirror.expiryProven(subject, size, notBefore);
  }

  renewedWithin(subject: string, withinMs: number): boolean {
    return this.mirror.renewedWithin(subject, withinMs, this.clock());
  }

  watchExpiries(signal: AbortSignal, onExpiry: (nodes: readonly string[]) => void): void {
    watchLeaseExpiries(this, this.options.members, signal, onExpiry, (listener) => {
      this.snapshotListeners.add(listener);
      return () => this.snapshotListeners.delete(listener);
    });
  }

  clock(): number {
    return performance.now();
  }

  status(): LeaseStatus {
    const now = this.clock();
    const fenceAt = this.fenceAt();
    const until = fenceAt === undefined ? undefined : fenceAt + this.options.timing.teardownBudgetMs;
    const base = this.lastStatus ?? {
      holds: false,
      validForMs: 0,
      clusterSize: this.options.members().size,
      peers: [],
      renewals: 0,
      leaseMs: this.options.timing.leaseMs,
      heartbeatMs: this.options.timing.heartbeatMs,
    };
    return {
      ...base,
      holds: this.holds(now),
      validForMs: until === undefined ? 0 : Math.min(0xffff_ffff, Math.max(0, Math.floor(until - now))),
    };
  }

  stop(): void {
    void this.close();
  }

  /** Stops renewing and granting, closes the worker's listener and ends the thread. */
  close(): Promise<void> {
    this.stopped ??= (async () => {
      clearInterval(this.alive);
      const worker = this.worker;
      if (worker === undefined) return;
      await this.ask({ kind: "stop", id: this.nextId++ }, 3000);
      await worker.terminate();
    })();
    return this.stopped;
  }

  private async spawn(): Promise<void> {
    const data: LeaseWorkerData = {
      self: this.options.self,
      timing: this.options.timing,
      listen: this.options.listen,
      config: this.options.config,
      logLevel: this.options.logLevel,
      clockOffsetMs: this.clockOffsetMs,
      fenceAt: this.shared.buffer,
      leaseFile: this.options.leaseFile,
      mainSilenceLimitMs: this.options.mainSilenceLimitMs ?? MAIN_SILENCE_LIMIT_MS,
    };
    const worker = new Worker(workerEntry(), { workerData: data });
    this.worker = worker;
    const started = new Promise<void>((resolve, reject) => {
      const onMessage = (message: FromLeaseWorker): void => {
        if (message.kind === "listening") {
          this.listeningPort = message.port;
          resolve();
        } else if (message.kind === "failed") reject(new Error(`lease worker: ${message.message}`));
      };
      worker.on("message", onMessage);
      worker.once("error", reject);
      worker.once("exit", (code) =>
        reject(new Error(`lease worker exited (code ${code}) before it listened`)),
      );
    });
    worker.on("message", (message: FromLeaseWorker) => this.receive(message));
    worker.on("error", (error) => this.failed(`lease worker failed: ${error.message}`));
    worker.on("exit", (code) => {
      for (const settle of this.waiting.values()) settle({ kind: "failed", message: "exited" });
      this.waiting.clear();
      if (this.stopped === undefined) this.failed(`lease worker exited (code ${code})`);
    });
    try {
      await started;
    } catch (error) {
      // A worker that never listened is not a lease that failed: start() rejects, no onFailure.
      this.stopped = Promise.resolve();
      await worker.terminate();
      throw error;
    }
    const tell = (): void => this.post({ kind: "alive", members: this.options.members() });
    tell();
    this.alive = setInterval(tell, ALIVE_EVERY_MS);
    this.alive.unref();
    // Neither keeps sanpathd running: its shutdown closes the worker; a crash leaves nothing to do.
    worker.unref();
  }

  private receive(message: FromLeaseWorker): void {
    switch (message.kind) {
      case "snapshot":
        this.mirror.apply(message.snapshot);
        this.lastStatus = message.status;
        this.notifyIfMoved();
        for (const listener of this.snapshotListeners) listener();
        return;
      case "answered":
      case "done":
        this.waiting.get(message.id)?.(message);
        this.waiting.delete(message.id);
        return;
      case "gave-up":
        this.failed(message.reason);
        return;
      case "listening":
      case "failed":
        return;
    }
  }

  private notifyIfMoved(): void {
    const fenceAt = this.fenceAt();
    if (fenceAt === this.lastFenceAt) return;
    this.lastFenceAt = fenceAt;
    for (const listener of this.listeners) listener();
  }

  private failed(reason: string): void {
    if (this.stopped !== undefined) return;
    this.options.logger.error({ reason }, "peer lease worker stopped: the lease ends");
    this.options.onFailure?.(reason);
  }

  private post(message: ToLeaseWorker): void {
    this.worker?.postMessage(message);
  }

  /** Sends a request and waits for its answer (undefined after `timeoutMs` or when the worker is gone). */
  private ask(
    message: Extract<ToLeaseWorker, { id: number }>,
    timeoutMs = 10_000,
  ): Promise<FromLeaseWorker | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(message.id);
        resolve(undefined);
      }, timeoutMs);
      this.waiting.set(message.id, (answer) => {
        clearTimeout(timer);
        resolve(answer);
      });
      this.post(message);
    });
  }
}
