import type { ConsulKeys } from "../consul/keys.js";
import type { EventLog } from "../events/event-log.js";
import { errorMessage } from "../errors/sanpath-error.js";
import type { KvStore } from "../kv/kv-store.js";
import type { Logger } from "../log/logger.js";
import { isAborted } from "../util/abort.js";
import type { LocalTeardown } from "./local-teardown.js";
import type { ActiveSession } from "./node-session.js";
import { setNodeDegraded, type NodeDegradation } from "./node-record.js";
import { pathKeyOf, type LocalPath, type PathJournal } from "./path-journal.js";
import type { PathLocks } from "./path-locks.js";
import type { PathQueue } from "./path-queue.js";

export interface DegradedModeOptions {
  nodeName: string;
  kv: KvStore;
  keys: ConsulKeys;
  journal: PathJournal;
  locks: PathLocks;
  queue: PathQueue;
  teardown: LocalTeardown;
  currentSession: () => ActiveSession | undefined;
  /** How long the data path must stay healthy before the node takes paths again. */
  recoverAfterMs: number;
  logger: Logger;
  /** Entered (with why) or left (undefined): for health and Status. */
  onChange?: (degraded: NodeDegradation | undefined) => void;
  /** Entering and leaving are recorded here (default: nowhere). */
  events?: EventLog | undefined;
}

/** How long one write of the node record may take. */
const RECORD_WRITE_MS = 3000;
const LOCK_RELEASE_MS = 3000;
const HAND_OFF_ROUNDS = 3;

/**
 * What a node does when its data path fails and does not come back in time (the probe's verdict,
 * data-path-probe.ts): it stops claiming paths it cannot serve.
 *
 * Entering: the node record says `degraded` first (so the coordinator, which places on eligible
 * nodes only, does not give the paths straight back), then each path is torn down under its queue
 * (portal off, bounded; IP removed and verified) and only then its lock released explicitly: no
 * lock-delay, and never an IP here once another node can lock the path. A path whose IP could not
 * be removed keeps its lock (the next reconcile retries the release). While degraded, AcquirePath
 * is refused (NODE_DEGRADED) and reconcile configures nothing.
 *
 * Leaving: once the data path has been healthy for `recoverAfterMs` without a break, the record's
 * `degraded` is cleared and the node takes paths again (paths do not come back by themselves: a
 * rebalance moves them).
 */
export class DegradedMode {
  private state: NodeDegradation | undefined;
  private entered = 0;
  private recoverTimer: NodeJS.Timeout | undefined;
  private work: Promise<void> = Promise.resolve();
  private readonly log: Logger;

  constructor(private readonly options: DegradedModeOptions) {
    this.log = options.logger;
  }

  get current(): NodeDegradation | undefined {
    return this.state;
  }

  /** Times the node became degraded since start. */
  get entries(): number {
    return this.entered;
  }

  /** The data path's verdict changed (data-path-probe.ts). */
  dataPathChanged(healthy: boolean, reason: string): void {
    if (!healthy) {
      this.cancelRecovery();
      if (this.state === undefined) this.enter(reason);
      return;
    }
    if (this.state === undefined || this.recoverTimer !== undefined) return;
    this.log.info(
      { recoverAfterMs: this.options.recoverAfterMs },
      "degraded: data path healthy again; taking paths again once it stays healthy",
    );
    this.recoverTimer = setTimeout(() => this.leave(), this.options.recoverAfterMs);
  }

  /** Waits for the hand-off or record write under way; no recovery happens afterwards. */
  async stop(): Promise<void> {
    this.cancelRecovery();
    await this.work;
  }

  private enter(reason: string): void {
    this.state = { since: new Date(), reason };
    this.entered++;
    this.log.error({ reason }, "degraded: the data path failed; handing every path off");
    const node = this.options.nodeName;
    this.options.events?.record({ kind: "degraded", node, actor: node, reason });
    this.options.onChange?.(this.state);
    this.then(async () => {
      await this.publish();
      await this.handOffAll(reason);
    });
  }

  private leave(): void {
    this.recoverTimer = undefined;
    if (this.state === undefined) return;
    const since = this.state.since;
    this.state = undefined;
    const node = this.options.nodeName;
    this.options.events?.record({
      kind: "recovered",
      node,
      actor: node,
      durationMs: Date.now() - since.getTime(),
      reason: `the data path stayed healthy for ${this.options.recoverAfterMs} ms`,
    });
    this.log.info(
      { recoverAfterMs: this.options.recoverAfterMs },
      "no longer degraded: the data path stayed healthy; the node takes paths again",
    );
    this.options.onChange?.(undefined);
    this.then(() => this.publish());
  }

  private cancelRecovery(): void {
    clearTimeout(this.recoverTimer);
    this.recoverTimer = undefined;
  }

  private then(step: () => Promise<void>): void {
    this.work = this.work.then(step).catch((error: unknown) => {
      this.log.error({ err: errorMessage(error) }, "degraded mode step failed");
    });
  }

  /** The node record says what the node's state is now (a later step writes a later state). */
  private async publish(): Promise<void> {
    const { kv, keys, nodeName } = this.options;
    try {
      await setNodeDegraded(kv, keys, nodeName, this.state, { signal: AbortSignal.timeout(RECORD_WRITE_MS) });
    } catch (error) {
      this.log.warn(
        { err: errorMessage(error), degraded: this.state !== undefined },
        "node record not updated; AcquirePath refuses paths meanwhile",
      );
    }
  }

  /**
   * Every path in the journal, and again any that an operation admitted before the node was
   * degraded put there meanwhile (a few rounds; reconcile gives up any left after that).
   */
  private async handOffAll(reason: string): Promise<void> {
    const { journal, queue } = this.options;
    const outcomes: HandOffOutcome[] = [];
    const tried = new Set<string>();
    for (let round = 0; round < HAND_OFF_ROUNDS && this.state !== undefined; round++) {
      const keys = journal
        .values()
        .filter((entry) => entry.state !== "cleaning")
        .map((entry) => pathKeyOf(entry.diskId, entry.index))
        .filter((key) => !tried.has(key));
      if (keys.length === 0) break;
      for (const key of keys) tried.add(key);
      outcomes.push(
        ...(await Promise.all(
          keys.map((key) =>
            queue
              .run(key, () => this.handOff(key, reason))
              .catch((error: unknown) => {
                this.log.error({ path: key, err: errorMessage(error) }, "path not handed off");
                return "kept" as const;
              }),
          ),
        )),
      );
    }
    const count = (outcome: HandOffOutcome): number => outcomes.filter((each) => each === outcome).length;
    this.log.warn(
      { released: count("released"), fenced: count("down"), kept: count("kept"), gone: count("gone") },
      "degraded: paths handed off",
    );
  }

  private async handOff(key: string, reason: string): Promise<HandOffOutcome> {
    if (this.state === undefined) return "kept";
    const entry: LocalPath | undefined = this.options.journal.get(key);
    if (entry === undefined || entry.state === "cleaning") return "gone";
    const [down] = await this.options.teardown.tearDownAll(`degraded: ${reason}`, "hand-off", [entry]);
    if (down === undefined) return "kept";
    const session = this.options.currentSession();
    // A fenced node's locks go with its session (after the lock-delay).
    if (session === undefined || isAborted(session.signal)) return "down";
    const path = { diskId: entry.diskId, index: entry.index };
    try {
      await this.options.locks.release(path, session.id, {
        signal: AbortSignal.any([session.signal, AbortSignal.timeout(LOCK_RELEASE_MS)]),
      });
      return "released";
    } catch (error) {
      this.log.warn({ path: key, err: errorMessage(error) }, "lock not released; reconcile retries");
      return "down";
    }
  }
}

type HandOffOutcome = "released" | "down" | "kept" | "gone";
