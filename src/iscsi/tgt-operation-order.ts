/**
 * The order in which the tgt driver's operations run, and what happens when one finds tgtd
 * otherwise than the driver's model says.
 *
 * Operations on one target IQN (creating and aligning it, its state, dropping it) run one after
 * another; operations on different targets run in parallel. Listeners, pairings and the sockets of
 * one portal are handled beside the target's queue, so that several paths of one disk are given up
 * at once. Re-reads of tgtd, and operations that create, re-create or delete CHAP accounts
 * (node-wide in tgt), run alone. A command that fails, or a target that is not where the model
 * says, makes the driver re-read tgtd and run the operation once more from the fresh model.
 * Callers with a deadline stop waiting for their turn when it passes (a fence tear-down goes on to
 * the IP), and a step whose caller gave up does nothing.
 */
import { errorMessage, SanpathError } from "../errors/sanpath-error.js";
import { isCommandFailedError } from "../exec/command-runner.js";
import type { Logger } from "../log/logger.js";
import { KeyedQueue } from "../util/keyed-queue.js";
import { SharedExclusiveLock } from "../util/shared-exclusive-lock.js";
import type { DriverCallOptions } from "./target-driver.js";

export interface TgtOperationOrderOptions {
  /** Reads tgtd into the model unless it is loaded already. */
  ensureLoaded: (options: DriverCallOptions) => Promise<void>;
  /** Re-reads tgtd into the model (it runs `alone`). */
  refresh: (options: DriverCallOptions) => Promise<void>;
  logger?: Logger | undefined;
}

/** tgtd is not as the model says (a target missing); the driver re-reads it and tries once more. */
export class ModelMismatchError extends SanpathError {}

export class TgtOperationOrder {
  private readonly lock = new SharedExclusiveLock();
  /** One operation at a time per target IQN. */
  private readonly targetQueue = new KeyedQueue();

  constructor(private readonly options: TgtOperationOrderOptions) {}

  /** `work` with no other operation running (a re-read of tgtd). */
  alone(work: () => Promise<void>): Promise<void> {
    return this.lock.exclusive(work);
  }

  /** `step` for target `iqn` in the target's order, re-read and retried once (see withRetry). */
  operate(
    iqn: string,
    options: DriverCallOptions,
    alone: () => boolean,
    step: () => Promise<void>,
  ): Promise<void> {
    return this.withRetry(iqn, options, () => this.inTargetOrder(iqn, options, alone, step));
  }

  /**
   * Runs `attempt`; when a command in it fails or the model proves wrong, re-reads tgtd and runs
   * it once more (from the fresh model). Called holding neither the lock nor a target's turn.
   */
  async withRetry(iqn: string, options: DriverCallOptions, attempt: () => Promise<void>): Promise<void> {
    await untilGivenUp(this.options.ensureLoaded(options), options.signal);
    try {
      await attempt();
    } catch (error) {
      if (options.signal?.aborted === true || !isModelSymptom(error)) throw error;
      this.options.logger?.info(
        { iqn, err: errorMessage(error) },
        "tgtd is not as this driver believed: re-reading it and trying once more",
      );
      await untilGivenUp(this.options.refresh(options), options.signal);
      await attempt();
    }
  }

  /**
   * `step` after the operations on target `iqn` queued before it: alone when `alone()` says so
   * (account changes), else beside other targets' operations. A caller with a deadline (a fence
   * tear-down) does not wait past it for its turn, and a step whose caller gave up does nothing.
   */
  async inTargetOrder(
    iqn: string,
    options: DriverCallOptions,
    alone: () => boolean,
    step: () => Promise<void>,
  ): Promise<void> {
    const queued = this.targetQueue.run(iqn, () => {
      const guarded = async (): Promise<void> => {
        throwIfGivenUp(options.signal);
        await step();
      };
      return alone() ? this.lock.exclusive(guarded) : this.lock.shared(guarded);
    });
    await untilGivenUp(queued, options.signal);
  }

  /**
   * `step` beside the target's queue (a re-read of the model still waits for it): for what needs
   * no ordering with the target's state (listeners, pairings, sockets). A step never waits for a
   * target's turn (turn before lock, always, or a waiting re-read would deadlock them).
   */
  async besideTarget(options: DriverCallOptions, step: () => Promise<void>): Promise<void> {
    const work = this.lock.shared(async () => {
      throwIfGivenUp(options.signal);
      await step();
    });
    await untilGivenUp(work, options.signal);
  }
}

/** `work`'s outcome, or a rejection as soon as `signal` aborts (`work` then goes on unobserved). */
export async function untilGivenUp(work: Promise<void>, signal: AbortSignal | undefined): Promise<void> {
  if (signal === undefined) return work;
  work.catch(() => undefined);
  await new Promise<void>((resolve, reject) => {
    const abort = (): void => {
      reject(givenUp(signal));
    };
    if (signal.aborted) {
      abort();
      return;
    }
    signal.addEventListener("abort", abort, { once: true });
    work.then(resolve, reject).finally(() => {
      signal.removeEventListener("abort", abort);
    });
  });
}

export function targetMissing(iqn: string): ModelMismatchError {
  return new ModelMismatchError(
    "failed_precondition",
    `target ${iqn} is not configured: ensureTarget first`,
    {
      reason: "DRIVER_FAILED",
    },
  );
}

/** The caller gave up waiting for its turn on a target (its deadline passed, or it was cancelled). */
export function givenUp(signal: AbortSignal): SanpathError {
  const timedOut = signal.reason instanceof DOMException && signal.reason.name === "TimeoutError";
  return new SanpathError(
    timedOut ? "deadline_exceeded" : "cancelled",
    "gave up waiting for the target daemon (other operations on the target were still running)",
    { reason: "DRIVER_FAILED", cause: signal.reason },
  );
}

function throwIfGivenUp(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw givenUp(signal);
}

/** A failed tgtadm (it ran and said no), or the model proven wrong: worth a re-read and a retry. */
function isModelSymptom(error: unknown): boolean {
  if (error instanceof ModelMismatchError) return true;
  const failed = isCommandFailedError(error) ? error : error instanceof Error ? error.cause : undefined;
  return isCommandFailedError(failed) && failed.failure === "exit";
}
