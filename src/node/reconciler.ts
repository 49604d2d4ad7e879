import { watchPrefix } from "../kv/watch.js";
import type { KvEntry, KvStore } from "../kv/kv-store.js";
import { isAborted } from "../util/abort.js";
import type { ConsulKeys } from "../consul/keys.js";
import { errorMessage } from "../errors/sanpath-error.js";
import type { Logger } from "../log/logger.js";

export interface ReconcilerOptions {
  kv: KvStore;
  keys: ConsulKeys;
  logger: Logger;
  /**
   * One reconcile pass. `entries` is the watch's latest listing of `<root>/Disks/` when the pass was
   * triggered by a change, undefined otherwise (the pass lists afresh). Each path is re-read under its
   * path lock before anything is done, so a listing that is a little old never undoes newer work.
   */
  pass: (entries: readonly KvEntry[] | undefined, signal: AbortSignal) => Promise<void>;
  /** A pass also runs this often without changes (local drift: an IP removed by hand); default 15 s. */
  periodMs?: number;
}

/**
 * Runs reconcile passes: at start, on every change under `<root>/Disks/` (a blocking watch that
 * survives Consul restarts), periodically, and when asked (`kick`, e.g. after a new session).
 * Passes never overlap: triggers during a pass are folded into one more pass after it.
 */
export class Reconciler {
  private readonly stopping = new AbortController();
  private latest: readonly KvEntry[] | undefined;
  private pending = false;
  private running: Promise<void> | undefined;
  private watching: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly periodMs: number;

  constructor(private readonly options: ReconcilerOptions) {
    this.periodMs = options.periodMs ?? 15_000;
  }

  start(): void {
    if (this.watching !== undefined) return;
    this.watching = this.watch();
    this.schedule();
  }

  /** Asks for a pass (with a fresh listing) as soon as the current one, if any, is done. */
  kick(): void {
    this.request(undefined);
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    clearTimeout(this.timer);
    await this.watching;
    await this.running;
  }

  private request(entries: readonly KvEntry[] | undefined): void {
    if (this.stopping.signal.aborted) return;
    this.latest = entries;
    this.pending = true;
    this.running ??= this.drain().finally(() => {
      this.running = undefined;
    });
  }

  private async drain(): Promise<void> {
    while (this.pending && !this.stopping.signal.aborted) {
      this.pending = false;
      const entries = this.latest;
      this.latest = undefined;
      try {
        await this.options.pass(entries, this.stopping.signal);
      } catch (error) {
        if (!isAborted(this.stopping.signal)) {
          this.options.logger.warn({ err: errorMessage(error) }, "reconcile pass failed");
        }
      }
    }
  }

  private async watch(): Promise<void> {
    const { kv, keys, logger } = this.options;
    let failures = 0;
    for await (const snapshot of watchPrefix(kv, keys.disks(), {
      signal: this.stopping.signal,
      waitSeconds: 30,
      onError: (error) => {
        failures += 1;
        if (failures === 1 || failures % 20 === 0) {
          logger.warn({ err: error.message, failures }, "watch of the disk keys failed; retrying");
        }
      },
    })) {
      failures = 0;
      this.request(snapshot.entries);
    }
  }

  private schedule(): void {
    if (this.stopping.signal.aborted) return;
    this.timer = setTimeout(() => {
      this.kick();
      this.schedule();
    }, this.periodMs);
    this.timer.unref();
  }
}
