import { errorMessage, SanpathError } from "../errors/sanpath-error.js";
import type { Logger } from "../log/logger.js";
import type { DiskAllocation } from "./disk-allocation.js";
import { diskImageName } from "./disk-id.js";
import type { DiskImages } from "./disk-images.js";
import type { DiskReservations, ReleaseOutcome } from "./disk-reservations.js";

/** How long one give-back may take before it is left to the background retries. */
const UNDO_TIMEOUT_MS = 30_000;
const RETRY_FIRST_DELAY_MS = 1_000;
const RETRY_MAX_DELAY_MS = 30_000;

/**
 * Gives reservations back: after a failed AddDisk (undo), and for reservations left behind by a
 * crash (sweep). Order: claim the pending record (a registration still in flight then fails),
 * remove the image if it may exist, then free id, addresses, name and keys in one transaction.
 * A give-back that cannot finish (Ceph or Consul unreachable) is retried in the background with a
 * growing delay until it does or the service closes; the pending record keeps everything needed,
 * so a sweep on any node can finish it too.
 */
export class ReservationCleaner {
  private readonly closed = new AbortController();
  private readonly retries = new Map<string, NodeJS.Timeout>();
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(
    private readonly reservations: DiskReservations,
    private readonly images: DiskImages,
    private readonly logger: Logger,
  ) {}

  /** Undoes a reservation now; on failure schedules background retries and rethrows. */
  async giveBack(allocation: DiskAllocation, imageMayExist: boolean): Promise<ReleaseOutcome> {
    const attempt = this.attempt(allocation, imageMayExist);
    this.inFlight.add(attempt);
    try {
      return await attempt;
    } catch (error) {
      this.logger.warn(
        { diskId: allocation.id, err: errorMessage(error) },
        "could not give a disk reservation back yet; retrying in the background",
      );
      this.schedule(allocation, imageMayExist, RETRY_FIRST_DELAY_MS);
      throw error;
    } finally {
      this.inFlight.delete(attempt);
    }
  }

  /**
   * Gives back every pending reservation made more than `olderThanMs` ago (an AddDisk never takes
   * that long: its calls are bounded by the store's and Consul's timeouts). Returns the ids freed.
   */
  async sweep(olderThanMs: number, now: Date = new Date()): Promise<string[]> {
    const swept: string[] = [];
    for (const allocation of await this.reservations.listPending({ signal: this.closed.signal })) {
      if (now.getTime() - allocation.createTime.getTime() < olderThanMs) continue;
      try {
        const outcome = await this.attempt(allocation, true);
        this.logger.info(
          { diskId: allocation.id, node: allocation.node, outcome },
          "stale disk reservation swept",
        );
        if (outcome === "released") swept.push(allocation.id);
      } catch (error) {
        this.logger.warn(
          { diskId: allocation.id, err: errorMessage(error) },
          "could not sweep a disk reservation",
        );
      }
    }
    return swept;
  }

  /** Stops the background retries and waits for give-backs in flight. */
  async close(): Promise<void> {
    this.closed.abort(new SanpathError("unavailable", "the disk service is closing"));
    for (const timer of this.retries.values()) clearTimeout(timer);
    this.retries.clear();
    await Promise.allSettled([...this.inFlight]);
  }

  /** How many give-backs wait for a background retry (for tests and status). */
  pendingRetries(): number {
    return this.retries.size;
  }

  private async attempt(allocation: DiskAllocation, imageMayExist: boolean): Promise<ReleaseOutcome> {
    const signal = AbortSignal.any([this.closed.signal, AbortSignal.timeout(UNDO_TIMEOUT_MS)]);
    const claimed = await this.reservations.claimForRelease(allocation, { signal });
    if ("outcome" in claimed) return claimed.outcome;
    if (imageMayExist) {
      try {
        await this.images.forPool(allocation.pool).remove(diskImageName(allocation.id), { signal });
      } catch (error) {
        if (!(error instanceof SanpathError && error.kind === "not_found")) throw error;
      }
    }
    return await this.reservations.release(allocation, claimed.pendingIndex, { signal });
  }

  private schedule(allocation: DiskAllocation, imageMayExist: boolean, delayMs: number): void {
    if (this.closed.signal.aborted) return;
    const key = allocation.token;
    clearTimeout(this.retries.get(key));
    const timer = setTimeout(() => {
      this.retries.delete(key);
      const attempt = this.attempt(allocation, imageMayExist).then(
        (outcome) => {
          this.logger.info({ diskId: allocation.id, outcome }, "disk reservation given back");
        },
        (error: unknown) => {
          this.logger.warn(
            { diskId: allocation.id, err: errorMessage(error) },
            "could not give a disk reservation back yet; retrying in the background",
          );
          this.schedule(allocation, imageMayExist, Math.min(delayMs * 2, RETRY_MAX_DELAY_MS));
        },
      );
      this.inFlight.add(attempt);
      void attempt.finally(() => this.inFlight.delete(attempt));
    }, delayMs);
    timer.unref();
    this.retries.set(key, timer);
  }
}
