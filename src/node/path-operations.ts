import type { JobPathMarker } from "../assignment/job-path-marker.js";
import { errorMessage } from "../errors/sanpath-error.js";
import { InvalidSessionError } from "../kv/invalid-session.js";
import type { Logger } from "../log/logger.js";
import { isAborted } from "../util/abort.js";
import type { DiskSource } from "./disk-source.js";
import type { EpochGate } from "./epoch-gate.js";
import { diskStopped, nodeFenced, pathHeldElsewhere, pathInLockDelay } from "./node-errors.js";
import type { ActiveSession } from "./node-session.js";
import { pathKeyOf, type LocalPath, type PathJournal } from "./path-journal.js";
import type { PathLocks, PathRef } from "./path-locks.js";
import type { PathSetup } from "./path-setup.js";
import {
  diskPathOf,
  localPathOf,
  servedPathView,
  targetSpecOf,
  type ServedPathView,
  type SubnetInterfaces,
} from "./served-path.js";
import { StepTimings } from "./step-timings.js";

export interface AcquirePathInput {
  epoch: number;
  diskId: string;
  index: number;
  /** "" when not part of a reassignment job. */
  jobId: string;
}

export type CleanPathTarget = { kind: "ip"; ip: string } | { kind: "path"; diskId: string; index: number };

export interface CleanPathInput {
  epoch: number;
  target: CleanPathTarget;
  jobId: string;
}

export interface AcquirePathResult {
  path: ServedPathView;
  alreadyServed: boolean;
}

export interface CleanPathResult {
  /** The path was configured here or its lock held by this node before the call. */
  wasServed: boolean;
  diskId: string;
  index: number;
  targetDropped: boolean;
}

export interface PathOperationsOptions {
  nodeName: string;
  interfaces: SubnetInterfaces;
  disks: DiskSource;
  setup: PathSetup;
  journal: PathJournal;
  locks: PathLocks;
  jobs: JobPathMarker;
  epochs: EpochGate;
  logger: Logger;
  /** The session the node may act with now; undefined while it may not (NodeSession.current). */
  currentSession: () => ActiveSession | undefined;
  /** The lock store said the session no longer exists: the node must fence. */
  reportSessionLost: (why: string) => void;
}

/** How long an undo's tear-down may take (no caller deadline applies to an undo). */
const UNDO_TEARDOWN_MS = 15_000;
/** CleanPath's read of the path lock: beyond this Consul counts as unreachable and a local path is torn down anyway. */
const LOCK_READ_TIMEOUT_MS = 1500;

/**
 * What is done to one path, always under that path's queue (path-queue.ts): acquire (lock, then
 * configure), clean (tear down, then release), configure a path whose lock is already held, give a
 * path up, and undo a configuration that failed half-way. A lock is released only after the local
 * tear-down worked: an IP still here keeps its lock, so no other node can bring it up too.
 */
export class PathOperations {
  private readonly log: Logger;

  constructor(private readonly options: PathOperationsOptions) {
    this.log = options.logger;
  }

  async acquire(
    input: AcquirePathInput,
    path: PathRef,
    callSignal: AbortSignal,
    steps: StepTimings,
  ): Promise<AcquirePathResult> {
    const { diskId, index } = path;
    const { journal, setup, nodeName } = this.options;
    steps.lap("queue");
    this.options.epochs.admit(input.epoch);
    const session = this.requireSession();
    const signal = AbortSignal.any([callSignal, session.signal]);
    const view = await this.options.disks.read(diskId, { signal });
    steps.lap("diskRead");
    if (view.runState === "stopped") throw diskStopped(diskId);
    const local = localPathOf(nodeName, this.options.interfaces, view, diskPathOf(view, index));
    const key = pathKeyOf(diskId, index);
    const previous = journal.get(key);
    const alreadyServed = previous?.state === "served" && previous.ip === local.ip;
    if (previous !== undefined && previous.ip !== local.ip) {
      // The path's address changed since it was configured here: the old one goes first.
      await setup.teardown(previous, signal);
    }
    await journal.put({ ...local, state: alreadyServed ? "served" : "configuring" });
    steps.lap("journal");
    let locked = false;
    try {
      await this.lock(path, session, signal);
      locked = true;
      steps.lap("lock");
      await setup.configure(local, targetSpecOf(view), signal);
      steps.lap("configure");
      if (isAborted(session.signal)) throw nodeFenced(nodeName);
      // In memory only: the entry went to disk before anything was configured (write-ahead), and a
      // restarted daemon tears down every journalled path whatever its state.
      await journal.setState(key, "served", { durable: false });
      steps.lap("journal");
      if (isAborted(session.signal)) throw nodeFenced(nodeName);
    } catch (error) {
      await this.undoConfigure(local, locked ? session.id : undefined);
      throw session.signal.aborted && !callSignal.aborted ? nodeFenced(nodeName) : error;
    }
    await this.options.jobs
      .mark(local.ip, input.jobId, "succeeded", { signal: callSignal })
      .catch((error: unknown) => {
        this.log.warn(
          { ip: local.ip, jobId: input.jobId, err: errorMessage(error) },
          "job record not marked succeeded",
        );
      });
    steps.lap("jobRecord");
    this.log.info(
      { diskId, index, ip: local.ip, alreadyServed, jobId: input.jobId, ms: steps.laps() },
      "path acquired",
    );
    return {
      path: servedPathView(local, { lockHeld: true, portalEnabled: true, ipPresent: true }),
      alreadyServed,
    };
  }

  async clean(
    input: CleanPathInput,
    path: PathRef,
    requestIp: string | undefined,
    signal: AbortSignal,
    steps: StepTimings,
  ): Promise<CleanPathResult> {
    const { diskId, index } = path;
    steps.lap("queue");
    this.options.epochs.admit(input.epoch);
    const key = pathKeyOf(diskId, index);
    const local = this.options.journal.get(key);
    const session = this.options.currentSession();
    const ip = local?.ip ?? requestIp;
    // Two reads of Consul that do not depend on each other, both before anything is torn down.
    // A lock that cannot be read (Consul unreachable: peer-lease mode keeps serving then) does
    // not stop the tear-down, which only ever makes this node serve less; the lock stays for
    // Consul to end with the session, or for the coordinator to release once this node let go.
    const [lockHeld] = await Promise.all([
      session === undefined
        ? false
        : this.options.locks
            .state(path, { signal, timeoutMs: LOCK_READ_TIMEOUT_MS })
            .then((lock) => lock?.session === session.id)
            .catch((error: unknown) => {
              if (local === undefined) throw error;
              this.log.warn(
                { diskId, index, err: errorMessage(error) },
                "path lock not readable; tearing down",
              );
              return false;
            }),
      ip === undefined
        ? undefined
        : // Part of a job: the coordinator waits for "moving", so failing to write it fails the clean.
          this.options.jobs
            .mark(ip, input.jobId, "moving", {
              signal,
              ...(input.jobId === "" ? { timeoutMs: LOCK_READ_TIMEOUT_MS } : {}),
            })
            .catch((error: unknown) => {
              if (input.jobId !== "") throw error;
              this.log.warn({ ip, err: errorMessage(error) }, "job record not marked moving");
            }),
    ]);
    steps.lap("lockReadAndJobRecord");
    if (local === undefined && !lockHeld) return { wasServed: false, diskId, index, targetDropped: false };
    const targetDropped = await this.giveUp(path, local, lockHeld ? session?.id : undefined, signal, steps);
    this.log.info({ diskId, index, ip, jobId: input.jobId, targetDropped, ms: steps.laps() }, "path cleaned");
    return { wasServed: true, diskId, index, targetDropped };
  }

  /**
   * CleanPath's steps: portal off, IP removed and verified, lock released (explicitly: no
   * lock-delay), target dropped when no other path of the disk is served here. Returns whether the
   * target was dropped.
   */
  async giveUp(
    path: PathRef,
    local: LocalPath | undefined,
    releaseAs: string | undefined,
    signal: AbortSignal,
    steps = new StepTimings(),
  ): Promise<boolean> {
    const { journal, setup } = this.options;
    const key = pathKeyOf(path.diskId, path.index);
    if (local !== undefined) {
      // In memory only: on disk the entry stays until it is removed after the tear-down, and a
      // restarted daemon tears down every journalled path whatever its state.
      await journal.setState(key, "cleaning", { durable: false });
      steps.lap("journal");
      await setup.teardown(local, signal, steps);
    }
    if (releaseAs !== undefined) {
      await this.options.locks.release(path, releaseAs, { signal });
      steps.lap("lockRelease");
    }
    if (local === undefined) return false;
    // Not waited for: the path is torn down, so an entry still on disk after a crash only makes the
    // next daemon tear down (again) what is not there. The entry leaves memory at once.
    journal.remove(key).catch((error: unknown) => {
      this.log.warn({ path: key, err: errorMessage(error) }, "path journal not written after a clean");
    });
    steps.lap("journal");
    if (this.otherPathOfDiskHere(local)) return false;
    await setup.dropTarget(local.iqn, signal);
    steps.lap("dropTarget");
    return true;
  }

  /** Configures a path whose lock this node's session already holds (reconcile). */
  async configureHeld(path: PathRef, session: ActiveSession, signal: AbortSignal): Promise<void> {
    const { diskId, index } = path;
    const { journal, setup, nodeName } = this.options;
    const view = await this.options.disks.read(diskId, { signal });
    const local = localPathOf(nodeName, this.options.interfaces, view, diskPathOf(view, index));
    const key = pathKeyOf(diskId, index);
    const previous = journal.get(key);
    if (previous !== undefined && previous.ip !== local.ip) await setup.teardown(previous, signal);
    await journal.put({ ...local, state: previous?.state === "served" ? "served" : "configuring" });
    try {
      await setup.configure(local, targetSpecOf(view), signal);
      if (isAborted(session.signal)) throw nodeFenced(nodeName);
      // In memory only: the entry went to disk before anything was configured (write-ahead), and a
      // restarted daemon tears down every journalled path whatever its state.
      await journal.setState(key, "served", { durable: false });
      this.log.info({ diskId, index, ip: local.ip }, "reconcile: path configured");
    } catch (error) {
      this.log.warn(
        { diskId, index, err: errorMessage(error) },
        "reconcile could not configure a held path: giving it up",
      );
      await this.undoConfigure(local, session.signal.aborted ? undefined : session.id);
      throw error;
    }
  }

  /** Releases every path lock `sessionId` holds (explicit release: no lock-delay); returns how many. */
  async releaseLocksOf(sessionId: string, signal: AbortSignal): Promise<number> {
    const held = await this.options.locks.heldBy(sessionId, { signal });
    for (const path of held) await this.options.locks.release(path, sessionId, { signal });
    return held.length;
  }

  /** Locks the path with our session; PATH_HELD_ELSEWHERE naming the holder when it cannot. */
  private async lock(path: PathRef, session: ActiveSession, signal: AbortSignal): Promise<void> {
    const { locks, nodeName } = this.options;
    let acquired: boolean;
    try {
      acquired = await locks.acquire(path, session.id, nodeName, { signal });
    } catch (error) {
      if (error instanceof InvalidSessionError) {
        this.options.reportSessionLost("a lock acquire answered: invalid session");
        throw nodeFenced(nodeName, "Consul says its session is gone");
      }
      throw error;
    }
    if (acquired) return;
    const state = await locks.state(path, { signal });
    const name = `${path.diskId}/${path.index}`;
    if (state?.session !== undefined && state.session !== session.id) {
      const who =
        state.holderName === ""
          ? `session ${state.session}`
          : `node ${state.holderName} (session ${state.session})`;
      throw pathHeldElsewhere(name, who);
    }
    throw pathInLockDelay(name, state?.holderName ?? "");
  }

  /**
   * Undoes a path's local configuration; releases the lock only when the tear-down worked (an IP
   * still here must keep the lock, or another node could bring it up too). What fails is left to
   * reconcile (journal state "cleaning").
   */
  private async undoConfigure(local: LocalPath, lockedBy: string | undefined): Promise<void> {
    const { journal, setup } = this.options;
    const key = pathKeyOf(local.diskId, local.index);
    const signal = AbortSignal.timeout(UNDO_TEARDOWN_MS);
    try {
      await setup.teardown(local, signal);
      if (!this.otherPathOfDiskHere(local)) await setup.dropTarget(local.iqn, signal);
    } catch (error) {
      this.log.error(
        { diskId: local.diskId, index: local.index, err: errorMessage(error) },
        "undo failed: reconcile retries",
      );
      await journal.setState(key, "cleaning").catch(() => undefined);
      return;
    }
    await journal.remove(key);
    if (lockedBy === undefined) return;
    try {
      await this.options.locks.release(local, lockedBy, { signal });
    } catch (error) {
      this.log.warn(
        { diskId: local.diskId, index: local.index, err: errorMessage(error) },
        "lock not released after undo",
      );
    }
  }

  private requireSession(): ActiveSession {
    const session = this.options.currentSession();
    if (session === undefined) throw nodeFenced(this.options.nodeName);
    return session;
  }

  private otherPathOfDiskHere(local: LocalPath): boolean {
    return this.options.journal
      .values()
      .some((entry) => entry.iqn === local.iqn && entry.index !== local.index && entry.state !== "cleaning");
  }
}
