/**
 * The node agent: what PetaSAN's iSCSI service and its SSH-invoked `reassignment_paths.py
 * path_host` did, as one long-lived component of sanpathd.
 *
 * - Holds the node's Consul session and fences itself (node-session.ts has the safety argument).
 * - AcquirePath / CleanPath / Status for the coordinator and operators; idempotent, epoch-fenced,
 *   bounded by the caller's deadline (every Consul call and command takes the call's signal).
 * - Reconciles: the paths configured here are exactly those this node's session holds locks on, of
 *   running disks (reconcile-plan.ts).
 * - At start, BEFORE it creates a session, it removes every path configuration it may have left
 *   behind (the path journal, the target's enabled portals, path IPs of known disks): a new process
 *   cannot know whether the old session still holds those locks, so there is never a moment with the
 *   IP on two nodes. The previous session (remembered in the data folder) is then retired: its locks
 *   released explicitly, the session destroyed.
 *
 * Acquire, clean and reconcile of one path never interleave (a queue per path).
 */
import { lockHolder, releaseLock } from "../kv/locks.js";
import { InvalidSessionError } from "../kv/invalid-session.js";
import type { KvEntry, KvStore } from "../kv/kv-store.js";
import type { SessionMemory } from "../kv/session-memory.js";
import type { SessionStore } from "../kv/session-store.js";
import { isAborted } from "../util/abort.js";
import { isIPv4 } from "node:net";
import type { ConsulKeys } from "../consul/keys.js";
import {
  isFinalJobPathStatus,
  parseJobPathRecord,
  serializeJobPathRecord,
  withJobPathStatus,
  type JobPathRecord,
  type JobPathStatus,
} from "../assignment/job-record.js";
import type { DiskPath } from "../disks/disk.js";
import { errorMessage, invalidField, SanpathError } from "../errors/sanpath-error.js";
import type { TargetSpec } from "../iscsi/target-driver.js";
import type { Logger } from "../log/logger.js";
import { KeyedQueue } from "../util/keyed-queue.js";
import { runStateOf, type DiskSource, type DiskView } from "./disk-source.js";
import { EpochGate } from "./epoch-gate.js";
import { diskStopped, nodeFenced, pathHeldElsewhere, pathInLockDelay, pathNotFound } from "./node-errors.js";
import { writeNodeRecord } from "./node-record.js";
import { NodeSession, type ActiveSession, type SessionSettings, type SessionStatus } from "./node-session.js";
import { pathKeyOf, type LocalPath, type PathJournal } from "./path-journal.js";
import { pathDevice, presenceOf, type LocalObservation, type PathSetup } from "./path-setup.js";
import { clusterViewOf, decidePath, driftOf, planReconcile, type DriftItem } from "./reconcile-plan.js";
import { Reconciler } from "./reconciler.js";
import { StepTimings } from "./step-timings.js";
import { pause } from "../util/pause.js";

export interface NodeAgentOptions {
  nodeName: string;
  /** host:port of this sanpathd, for the node record. */
  advertiseAddress: string;
  version: string;
  kv: KvStore;
  sessions: SessionStore;
  keys: ConsulKeys;
  disks: DiskSource;
  setup: PathSetup;
  journal: PathJournal;
  session: SessionSettings;
  /** Interface per iSCSI subnet; the node serves no path of a subnet without one. */
  interfaces: { subnet1?: string | undefined; subnet2?: string | undefined };
  imageStoreKind: string;
  /** Where the session ids are remembered for the next daemon (default nowhere). */
  sessionMemory?: SessionMemory;
  logger: Logger;
  /** The node may (true) or may not (false) take paths now: for the health service. */
  onServingChange?: (serving: boolean) => void;
  reconcilePeriodMs?: number;
}

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

export interface ServedPathView {
  diskId: string;
  index: number;
  ip: string;
  prefixLength: number;
  /** The device the IP is on ("eth1", "eth1.20"). */
  device: string;
  iqn: string;
  lockHeld: boolean;
  portalEnabled: boolean;
  ipPresent: boolean;
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

export interface NodeCounters {
  acquires: number;
  acquireFailures: number;
  cleans: number;
  cleanFailures: number;
  reconciles: number;
  fences: number;
  staleEpochsRefused: number;
}

export interface NodeStatus {
  node: string;
  address: string;
  version: string;
  session: SessionStatus & SessionSettings;
  paths: ServedPathView[];
  drift: DriftItem[];
  counters: NodeCounters;
  highestEpoch: number;
  targetDriver: string;
  imageStore: string;
}

/** How long a tear-down step may take when no caller deadline applies. */
const TEARDOWN_STEP_MS = 15_000;
const STATUS_CONSUL_TIMEOUT_MS = 2000;
const STATUS_LOCAL_TIMEOUT_MS = 3000;

export class NodeAgent {
  private readonly epochs: EpochGate;
  private readonly queue = new KeyedQueue();
  private inFlight = 0;
  private idleWaiters: (() => void)[] = [];
  private readonly counters = { acquires: 0, acquireFailures: 0, cleans: 0, cleanFailures: 0, reconciles: 0 };
  private readonly session: NodeSession;
  private readonly reconciler: Reconciler;
  private readonly lifetime = new AbortController();
  private lifecycle: Promise<void> | undefined;
  private readonly log: Logger;

  constructor(private readonly options: NodeAgentOptions) {
    this.log = options.logger;
    this.epochs = new EpochGate(options.journal.highestEpoch);
    this.session = new NodeSession({
      sessions: options.sessions,
      nodeName: options.nodeName,
      settings: options.session,
      ...(options.sessionMemory === undefined ? {} : { memory: options.sessionMemory }),
      logger: options.logger,
      onFence: (reason) => this.fence(reason),
      onSession: (session) => this.sessionStarted(session),
      releaseLocksOf: (sessionId, signal) => this.releaseLocksOf(sessionId, signal),
    });
    this.reconciler = new Reconciler({
      kv: options.kv,
      keys: options.keys,
      logger: options.logger,
      pass: (entries, signal) => this.reconcilePass(entries, signal),
      ...(options.reconcilePeriodMs === undefined ? {} : { periodMs: options.reconcilePeriodMs }),
    });
  }

  /** Sweeps local leftovers (retrying until it works), then starts the session and reconcile. */
  start(): void {
    this.lifecycle ??= this.run();
  }

  /** Tears down every path served here, releases the locks and destroys the session. */
  async stop(): Promise<void> {
    this.lifetime.abort();
    this.options.onServingChange?.(false);
    await this.reconciler.stop();
    await this.lifecycle;
    await this.session.stop(async () => {
      await this.settle(5000);
      await this.tearDownAll("sanpathd is stopping", "stop");
    });
    await this.options.setup.close();
    await this.options.journal.flush();
  }

  // ---- NodeService -----------------------------------------------------------------------------

  async acquirePath(input: AcquirePathInput, signal: AbortSignal): Promise<AcquirePathResult> {
    const { diskId, index } = this.checkPathRef(input.diskId, input.index);
    this.checkJobId(input.jobId);
    try {
      await this.admitEpoch(input.epoch);
      if (this.session.current() === undefined) throw nodeFenced(this.options.nodeName);
      const steps = new StepTimings();
      const result = await this.withPath(pathKeyOf(diskId, index), () =>
        this.acquireHeld(input, diskId, index, signal, steps),
      );
      this.counters.acquires += 1;
      return result;
    } catch (error) {
      this.counters.acquireFailures += 1;
      throw error;
    }
  }

  async cleanPath(input: CleanPathInput, signal: AbortSignal): Promise<CleanPathResult> {
    this.checkJobId(input.jobId);
    const steps = new StepTimings();
    try {
      await this.admitEpoch(input.epoch);
      const target = input.target;
      let diskId: string;
      let index: number;
      let ip: string | undefined;
      if (target.kind === "ip") {
        if (!isIPv4(target.ip)) throw invalidField("ip", `must be an IPv4 address, got "${target.ip}"`);
        ip = target.ip;
        // Not in the journal = not configured here; only a lock could still be ours (with a session).
        const owner =
          this.options.journal.byIp(ip) ??
          (this.session.current() === undefined
            ? undefined
            : (await this.options.disks.allocatedPathIps({ signal })).get(ip));
        if (owner === undefined) {
          this.counters.cleans += 1;
          return { wasServed: false, diskId: "", index: 0, targetDropped: false };
        }
        ({ diskId, index } = owner);
      } else {
        ({ diskId, index } = this.checkPathRef(target.diskId, target.index));
      }
      const result = await this.withPath(pathKeyOf(diskId, index), () =>
        this.cleanHeld(input, diskId, index, ip, signal, steps),
      );
      this.counters.cleans += 1;
      return result;
    } catch (error) {
      this.counters.cleanFailures += 1;
      throw error;
    }
  }

  async status(epoch: number, signal: AbortSignal): Promise<NodeStatus> {
    await this.admitEpoch(epoch);
    const sessionStatus = this.session.status();
    const local = this.options.journal.values();
    let observed: LocalObservation | undefined;
    try {
      // Bounded: a target daemon blocked on an unreachable Ceph must not stall Status.
      observed = await withTimeout(this.options.setup.observe(signal, true), STATUS_LOCAL_TIMEOUT_MS);
    } catch (error) {
      this.log.debug({ err: errorMessage(error) }, "status: local state not readable");
    }
    let view: ReturnType<typeof clusterViewOf> | undefined;
    try {
      view = clusterViewOf(
        this.options.keys,
        await this.options.kv.list(this.options.keys.disks(), {
          signal,
          timeoutMs: STATUS_CONSUL_TIMEOUT_MS,
        }),
      );
    } catch (error) {
      this.log.debug({ err: errorMessage(error) }, "status: Consul not readable");
    }
    const paths = local
      .filter((entry) => entry.state !== "cleaning")
      .map((entry) => {
        const key = pathKeyOf(entry.diskId, entry.index);
        const presence = observed === undefined ? undefined : presenceOf(entry, observed);
        return this.viewOf(entry, {
          lockHeld: sessionStatus.id !== undefined && view?.paths.get(key)?.session === sessionStatus.id,
          portalEnabled: presence?.portalEnabled ?? false,
          ipPresent: presence?.ipPresent ?? false,
        });
      });
    return {
      node: this.options.nodeName,
      address: this.options.advertiseAddress,
      version: this.options.version,
      session: { ...sessionStatus, ...this.options.session },
      paths,
      drift: view === undefined ? [] : driftOf(view, sessionStatus.id, local, observed),
      counters: {
        ...this.counters,
        fences: sessionStatus.fences,
        staleEpochsRefused: this.epochs.refusedCount,
      },
      highestEpoch: this.epochs.highest,
      targetDriver: this.options.setup.targetKind,
      imageStore: this.options.imageStoreKind,
    };
  }

  // ---- acquire ---------------------------------------------------------------------------------

  private async acquireHeld(
    input: AcquirePathInput,
    diskId: string,
    index: number,
    callSignal: AbortSignal,
    steps: StepTimings,
  ): Promise<AcquirePathResult> {
    steps.lap("queue");
    this.epochs.admit(input.epoch);
    const session = this.requireSession();
    const signal = AbortSignal.any([callSignal, session.signal]);
    const view = await this.options.disks.read(diskId, { signal });
    steps.lap("diskRead");
    if (view.runState === "stopped") throw diskStopped(diskId);
    const local = this.localPathOf(view, this.diskPath(view, index));
    const key = pathKeyOf(diskId, index);
    const previous = this.options.journal.get(key);
    const alreadyServed = previous?.state === "served" && previous.ip === local.ip;
    if (previous !== undefined && previous.ip !== local.ip) {
      // The path's address changed since it was configured here: the old one goes first.
      await this.options.setup.teardown(previous, signal);
    }
    await this.options.journal.put({ ...local, state: alreadyServed ? "served" : "configuring" });
    steps.lap("journal");
    let locked = false;
    try {
      await this.lockPath(diskId, index, session, signal);
      locked = true;
      steps.lap("lock");
      await this.options.setup.configure(local, this.targetSpec(view), signal);
      steps.lap("configure");
      if (isAborted(session.signal)) throw nodeFenced(this.options.nodeName);
      // In memory only: the entry went to disk before anything was configured (write-ahead), and a
      // restarted daemon tears down every journalled path whatever its state.
      await this.options.journal.setState(key, "served", { durable: false });
      steps.lap("journal");
      if (isAborted(session.signal)) throw nodeFenced(this.options.nodeName);
    } catch (error) {
      await this.undoConfigure(local, locked ? session.id : undefined);
      throw session.signal.aborted && !callSignal.aborted ? nodeFenced(this.options.nodeName) : error;
    }
    await this.markJob(local.ip, input.jobId, "succeeded", callSignal).catch((error: unknown) => {
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
      path: this.viewOf(local, { lockHeld: true, portalEnabled: true, ipPresent: true }),
      alreadyServed,
    };
  }

  /** Locks the path with our session; PATH_HELD_ELSEWHERE naming the holder when it cannot. */
  private async lockPath(
    diskId: string,
    index: number,
    session: ActiveSession,
    signal: AbortSignal,
  ): Promise<void> {
    const { kv, keys, nodeName } = this.options;
    const key = keys.diskPath(diskId, index);
    let acquired: boolean;
    try {
      acquired = await kv.acquire(key, session.id, nodeName, { signal });
    } catch (error) {
      if (error instanceof InvalidSessionError) {
        this.session.reportLost("a lock acquire answered: invalid session");
        throw nodeFenced(nodeName, "Consul says its session is gone");
      }
      throw error;
    }
    if (acquired) return;
    const holder = await lockHolder(kv, key, { signal });
    const path = `${diskId}/${index}`;
    if (holder !== undefined && holder.session !== session.id) {
      const who =
        holder.value === ""
          ? `session ${holder.session}`
          : `node ${holder.value} (session ${holder.session})`;
      throw pathHeldElsewhere(path, who);
    }
    throw pathInLockDelay(path, (await kv.get(key, { signal }))?.value ?? "");
  }

  /**
   * Undoes a path's local configuration; releases the lock only when the tear-down worked (an IP
   * still here must keep the lock, or another node could bring it up too). What fails is left to
   * reconcile (journal state "cleaning").
   */
  private async undoConfigure(local: LocalPath, lockedBy: string | undefined): Promise<void> {
    const key = pathKeyOf(local.diskId, local.index);
    const signal = AbortSignal.timeout(TEARDOWN_STEP_MS);
    try {
      await this.options.setup.teardown(local, signal);
      if (!this.otherPathOfDiskHere(local)) await this.options.setup.dropTarget(local.iqn, signal);
    } catch (error) {
      this.log.error(
        { diskId: local.diskId, index: local.index, err: errorMessage(error) },
        "undo failed: reconcile retries",
      );
      await this.options.journal.setState(key, "cleaning").catch(() => undefined);
      return;
    }
    await this.options.journal.remove(key);
    if (lockedBy === undefined) return;
    try {
      await releaseLock(
        this.options.kv,
        this.options.keys.diskPath(local.diskId, local.index),
        lockedBy,
        undefined,
        {
          signal,
        },
      );
    } catch (error) {
      this.log.warn(
        { diskId: local.diskId, index: local.index, err: errorMessage(error) },
        "lock not released after undo",
      );
    }
  }

  // ---- clean -----------------------------------------------------------------------------------

  private async cleanHeld(
    input: CleanPathInput,
    diskId: string,
    index: number,
    requestIp: string | undefined,
    signal: AbortSignal,
    steps: StepTimings,
  ): Promise<CleanPathResult> {
    steps.lap("queue");
    this.epochs.admit(input.epoch);
    const key = pathKeyOf(diskId, index);
    const local = this.options.journal.get(key);
    const session = this.session.current();
    const ip = local?.ip ?? requestIp;
    // Two reads of Consul that do not depend on each other, both before anything is torn down.
    const [lockHeld] = await Promise.all([
      session === undefined
        ? false
        : this.options.kv
            .get(this.options.keys.diskPath(diskId, index), { signal })
            .then((entry) => entry?.session === session.id),
      ip === undefined
        ? undefined
        : // Part of a job: the coordinator waits for "moving", so failing to write it fails the clean.
          this.markJob(ip, input.jobId, "moving", signal).catch((error: unknown) => {
            if (input.jobId !== "") throw error;
            this.log.warn({ ip, err: errorMessage(error) }, "job record not marked moving");
          }),
    ]);
    steps.lap("lockReadAndJobRecord");
    if (local === undefined && !lockHeld) return { wasServed: false, diskId, index, targetDropped: false };
    const targetDropped = await this.giveUp(key, local, lockHeld ? session?.id : undefined, signal, steps);
    this.log.info({ diskId, index, ip, jobId: input.jobId, targetDropped, ms: steps.laps() }, "path cleaned");
    return { wasServed: true, diskId, index, targetDropped };
  }

  /**
   * CleanPath's steps: portal off, IP removed and verified, lock released (explicitly: no
   * lock-delay), target dropped when no other path of the disk is served here. Returns whether the
   * target was dropped.
   */
  private async giveUp(
    key: string,
    local: LocalPath | undefined,
    releaseAs: string | undefined,
    signal: AbortSignal,
    steps = new StepTimings(),
  ): Promise<boolean> {
    if (local !== undefined) {
      // In memory only: on disk the entry stays until it is removed after the tear-down, and a
      // restarted daemon tears down every journalled path whatever its state.
      await this.options.journal.setState(key, "cleaning", { durable: false });
      steps.lap("journal");
      await this.options.setup.teardown(local, signal);
      steps.lap("teardown");
    }
    const [diskId = "", indexText = "0"] = key.split("/");
    if (releaseAs !== undefined) {
      await releaseLock(
        this.options.kv,
        this.options.keys.diskPath(diskId, Number(indexText)),
        releaseAs,
        undefined,
        {
          signal,
        },
      );
      steps.lap("lockRelease");
    }
    if (local === undefined) return false;
    // Not waited for: the path is torn down, so an entry still on disk after a crash only makes the
    // next daemon tear down (again) what is not there. The entry leaves memory at once.
    this.options.journal.remove(key).catch((error: unknown) => {
      this.log.warn({ path: key, err: errorMessage(error) }, "path journal not written after a clean");
    });
    steps.lap("journal");
    if (this.otherPathOfDiskHere(local)) return false;
    await this.options.setup.dropTarget(local.iqn, signal);
    steps.lap("dropTarget");
    return true;
  }

  // ---- reconcile -------------------------------------------------------------------------------

  private async reconcilePass(entries: readonly KvEntry[] | undefined, signal: AbortSignal): Promise<void> {
    const session = this.session.current();
    if (session === undefined) return;
    const passSignal = AbortSignal.any([signal, session.signal]);
    const { kv, keys, journal, setup } = this.options;
    const view = clusterViewOf(keys, entries ?? (await kv.list(keys.disks(), { signal: passSignal })));
    let observed: LocalObservation | undefined;
    try {
      // A pass triggered by a change of the disk keys works from what the drivers believe (they
      // track their own changes); the periodic pass and a kick read the node's state afresh, which
      // is how changes made behind sanpathd's back are found.
      observed = await setup.observe(passSignal, entries === undefined);
    } catch (error) {
      this.log.warn({ err: errorMessage(error) }, "reconcile: local state not readable");
    }
    const plan = planReconcile(view, session.id, journal.values(), observed);
    this.counters.reconciles += 1;
    this.log.debug(
      { fresh: entries === undefined, actions: plan.map((item) => `${item.key} ${item.action}`) },
      "reconcile pass",
    );
    for (const item of plan) {
      if (passSignal.aborted) return;
      try {
        await this.withPath(item.key, () => this.reconcilePath(item.diskId, item.index, passSignal));
      } catch (error) {
        if (!isAborted(passSignal)) {
          this.log.warn(
            { path: item.key, action: item.action, err: errorMessage(error) },
            "reconcile of a path failed",
          );
        }
      }
    }
    await this.removeStrayPathIps(passSignal);
  }

  /** Re-reads one path under its queue and makes it right (see reconcile-plan.ts). */
  private async reconcilePath(diskId: string, index: number, signal: AbortSignal): Promise<void> {
    const session = this.session.current();
    if (session === undefined) return;
    const { kv, keys, journal, setup } = this.options;
    const key = pathKeyOf(diskId, index);
    const [pathEntry, diskEntry] = await Promise.all([
      kv.get(keys.diskPath(diskId, index), { signal }),
      kv.get(keys.disk(diskId), { signal }),
    ]);
    const local = journal.get(key);
    const presence = local === undefined ? undefined : presenceOf(local, await setup.observe(signal));
    const lockedByUs = pathEntry?.session === session.id;
    const action = decidePath({ lockedByUs, disk: runStateOf(diskEntry), local, presence });
    switch (action) {
      case "none":
        return;
      case "configure":
        await this.configureHeld(diskId, index, session, signal);
        return;
      case "release":
        this.log.info(
          { path: key, disk: runStateOf(diskEntry), local: local?.state },
          "reconcile: giving the path up",
        );
        await this.giveUp(key, local, session.id, signal);
        return;
      case "remove-local":
        this.log.warn({ path: key, ip: local?.ip }, "reconcile: configured here without the lock: removed");
        await this.giveUp(key, local, undefined, signal);
        return;
    }
  }

  /** Configures a path whose lock this node's session already holds. */
  private async configureHeld(
    diskId: string,
    index: number,
    session: ActiveSession,
    signal: AbortSignal,
  ): Promise<void> {
    const view = await this.options.disks.read(diskId, { signal });
    const local = this.localPathOf(view, this.diskPath(view, index));
    const key = pathKeyOf(diskId, index);
    const previous = this.options.journal.get(key);
    if (previous !== undefined && previous.ip !== local.ip)
      await this.options.setup.teardown(previous, signal);
    await this.options.journal.put({
      ...local,
      state: previous?.state === "served" ? "served" : "configuring",
    });
    try {
      await this.options.setup.configure(local, this.targetSpec(view), signal);
      if (isAborted(session.signal)) throw nodeFenced(this.options.nodeName);
      // In memory only: the entry went to disk before anything was configured (write-ahead), and a
      // restarted daemon tears down every journalled path whatever its state.
      await this.options.journal.setState(key, "served", { durable: false });
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

  /**
   * Path IPs of known disks that are on this node although it does not serve them (a journal lost
   * with the data folder, an address added by hand) are removed.
   */
  private async removeStrayPathIps(signal: AbortSignal): Promise<void> {
    const allocated = await this.options.disks.allocatedPathIps({ signal });
    if (allocated.size === 0) return;
    const addresses = await this.options.setup.addresses(signal);
    for (const address of addresses) {
      const owner = allocated.get(address.ip);
      if (owner === undefined || this.options.journal.byIp(address.ip) !== undefined) continue;
      await this.withPath(pathKeyOf(owner.diskId, owner.index), async () => {
        if (this.options.journal.byIp(address.ip) !== undefined) return;
        this.log.warn(
          { ip: address.ip, device: address.interface },
          "a path IP is here but not served here: removed",
        );
        await this.options.setup.removeAddress(address.ip, signal);
      });
    }
  }

  // ---- session life cycle ----------------------------------------------------------------------

  private async run(): Promise<void> {
    for (let attempt = 1; !this.lifetime.signal.aborted; attempt++) {
      try {
        await this.sweepLeftovers(this.lifetime.signal);
        break;
      } catch (error) {
        if (isAborted(this.lifetime.signal)) return;
        if (attempt === 1 || attempt % 20 === 0) {
          this.log.error(
            { attempt, err: errorMessage(error) },
            "cannot clear what a previous daemon configured; retrying",
          );
        }
        await pause(Math.min(5000, 250 * 2 ** Math.min(attempt, 5)), this.lifetime.signal);
      }
    }
    if (this.lifetime.signal.aborted) return;
    this.reconciler.start();
    this.session.start();
  }

  /**
   * Before there is a session: removes every IP, portal and target this node may have configured
   * before (journal; targets with enabled portals; path IPs of known disks, when Consul answers).
   * The IPs are what matters (an IP up here and on another node is the failure fencing prevents):
   * failing to remove one fails the sweep, which is retried. A target daemon that does not answer
   * only costs its leftover targets (they keep no IP) and is logged.
   */
  private async sweepLeftovers(signal: AbortSignal): Promise<void> {
    const { journal, setup, disks } = this.options;
    const journalled = journal.values();
    let allocated = new Map<string, { diskId: string; index: number }>();
    try {
      allocated = await disks.allocatedPathIps({
        signal: AbortSignal.any([signal, AbortSignal.timeout(3000)]),
      });
    } catch (error) {
      this.log.info({ err: errorMessage(error) }, "start-up sweep without Consul: journal and targets only");
    }
    const addresses = await setup.addresses(signal, true);
    let targets: Awaited<ReturnType<PathSetup["targets"]>> = [];
    try {
      targets = await setup.targets(signal, true);
    } catch (error) {
      this.log.error(
        { err: errorMessage(error) },
        "the iSCSI target daemon does not answer: targets a previous daemon left are not removed",
      );
    }
    const ours = new Set([...journalled.map((entry) => entry.ip), ...allocated.keys()]);
    for (const target of targets) for (const portal of target.portals) ours.add(portal.ip);
    const present = addresses.filter((address) => ours.has(address.ip));
    await Promise.all(present.map((address) => setup.removeAddress(address.ip, signal)));
    const iqns = new Set(journalled.map((entry) => entry.iqn));
    for (const target of targets) if (target.portals.length > 0) iqns.add(target.iqn);
    for (const iqn of iqns) {
      await setup.dropTarget(iqn, signal).catch((error: unknown) => {
        this.log.warn({ iqn, err: errorMessage(error) }, "leftover target not dropped");
      });
    }
    for (const entry of journalled) await journal.remove(pathKeyOf(entry.diskId, entry.index));
    if (present.length > 0 || iqns.size > 0) {
      this.log.warn(
        { ips: present.map((address) => address.ip), targets: [...iqns] },
        "removed what a previous daemon left configured (before creating a session)",
      );
    }
  }

  private async sessionStarted(session: ActiveSession): Promise<void> {
    const { kv, keys, nodeName, advertiseAddress, version, interfaces } = this.options;
    try {
      await writeNodeRecord(
        kv,
        keys,
        {
          name: nodeName,
          address: advertiseAddress,
          interfaces,
          version,
          startedAt: new Date(),
          session: session.id,
        },
        { signal: AbortSignal.any([session.signal, AbortSignal.timeout(5000)]) },
      );
    } catch (error) {
      this.log.warn({ err: errorMessage(error) }, "node record not written");
    }
    this.options.onServingChange?.(true);
    this.reconciler.kick();
  }

  private async fence(reason: string): Promise<void> {
    this.options.onServingChange?.(false);
    await this.tearDownAll(`fenced: ${reason}`, "fence");
    // Operations in flight were aborted by the fence and undo themselves; sweep again after them
    // whatever is not torn down yet (an entry an operation wrote meanwhile, an IP still here).
    await this.settle(10_000);
    let present = new Set<string>();
    try {
      present = new Set(
        (await this.options.setup.addresses(AbortSignal.timeout(TEARDOWN_STEP_MS), true)).map(
          (address) => address.ip,
        ),
      );
    } catch (error) {
      this.log.error({ err: errorMessage(error) }, "addresses not readable after the fence tear-down");
    }
    const left = this.options.journal
      .values()
      .filter((entry) => entry.state !== "cleaning" || present.has(entry.ip));
    if (left.length > 0) await this.tearDownAll("fenced: second sweep", "fence", left);
  }

  /**
   * Portal off (bounded: a stuck target daemon must not delay the IP), then the IP removed, for every
   * path in the journal (or `only` those). When stopping, the targets are dropped and the entries
   * removed. When fencing, targets stay (dropping an rbd-backed LUN can block the target daemon while
   * Ceph is out of reach, as it may well be) and the entries become "cleaning": the first reconcile
   * with the next session drops them. Never throws.
   */
  private async tearDownAll(why: string, mode: "fence" | "stop", only?: readonly LocalPath[]): Promise<void> {
    const { journal, setup, session } = this.options;
    const entries = only ?? journal.values();
    if (entries.length === 0) return;
    // Fencing must be done before another node can lock the path: within lockDelay − fenceDeadline
    // (node-session.ts). Half of it for the portal, the rest for the IP; stopping has no such race.
    const budgetMs = session.lockDelaySeconds * 1000 - session.fenceDeadlineMs;
    const portalBudgetMs = mode === "fence" ? Math.max(500, budgetMs / 2) : TEARDOWN_STEP_MS;
    const ipBudgetMs = mode === "fence" ? Math.max(1000, budgetMs - portalBudgetMs) : TEARDOWN_STEP_MS;
    const removed = await Promise.all(
      entries.map(async (entry) => {
        try {
          await setup.disablePortal(entry.iqn, entry.ip, AbortSignal.timeout(portalBudgetMs));
        } catch (error) {
          this.log.warn(
            { ip: entry.ip, err: errorMessage(error) },
            "portal not disabled in time; removing the IP anyway",
          );
        }
        try {
          await setup.removeAddress(entry.ip, AbortSignal.timeout(ipBudgetMs), entry.interface, entry.vlanId);
          return entry;
        } catch (error) {
          this.log.error({ ip: entry.ip, err: errorMessage(error) }, "path IP could not be removed");
          return undefined;
        }
      }),
    );
    const done = removed.filter((entry) => entry !== undefined);
    this.log.warn(
      { why, paths: done.map((entry) => entry.ip), failed: entries.length - done.length },
      "paths torn down",
    );
    if (mode === "fence") {
      for (const entry of done) {
        await journal.setState(pathKeyOf(entry.diskId, entry.index), "cleaning").catch(() => undefined);
      }
      return;
    }
    for (const iqn of new Set(done.map((entry) => entry.iqn))) {
      if (entries.some((entry) => entry.iqn === iqn && !done.includes(entry))) continue;
      await setup.dropTarget(iqn, AbortSignal.timeout(TEARDOWN_STEP_MS)).catch((error: unknown) => {
        this.log.warn({ iqn, err: errorMessage(error) }, "target not dropped");
      });
    }
    for (const entry of done) {
      await journal.remove(pathKeyOf(entry.diskId, entry.index)).catch(() => undefined);
    }
  }

  /** Releases every path lock `sessionId` holds (explicit release: no lock-delay). */
  private async releaseLocksOf(sessionId: string, signal: AbortSignal): Promise<number> {
    const { kv, keys } = this.options;
    const held = (await kv.list(keys.disks(), { signal })).filter(
      (entry) => entry.session === sessionId && keys.parseDiskPath(entry.key) !== undefined,
    );
    for (const entry of held) await releaseLock(kv, entry.key, sessionId, undefined, { signal });
    return held.length;
  }

  // ---- helpers ---------------------------------------------------------------------------------

  /** Refuses a stale epoch; a higher one is on disk (path journal) before the request goes on. */
  private async admitEpoch(epoch: number): Promise<void> {
    this.epochs.admit(epoch);
    await this.options.journal.raiseHighestEpoch(this.epochs.highest);
  }

  private requireSession(): ActiveSession {
    const session = this.session.current();
    if (session === undefined) throw nodeFenced(this.options.nodeName);
    return session;
  }

  private async markJob(
    ip: string,
    jobId: string,
    status: JobPathStatus,
    signal: AbortSignal,
  ): Promise<void> {
    const { kv, keys, nodeName } = this.options;
    const key = keys.assignmentPath(ip);
    const applies = (record: JobPathRecord): boolean => {
      if (jobId !== "" && record.jobId !== jobId) return false;
      if (status === "moving") return record.status === "pending";
      return record.targetNode === nodeName && !isFinalJobPathStatus(record.status);
    };
    for (let attempt = 0; attempt < 5; attempt++) {
      const entry = await kv.get(key, { signal });
      if (entry === undefined) return;
      const record = parseJobPathRecord(entry.value, key);
      if (!applies(record)) return;
      const next = serializeJobPathRecord(withJobPathStatus(record, status, new Date()));
      if (await kv.put(key, next, { signal, cas: entry.modifyIndex })) {
        this.log.info({ ip, jobId: record.jobId, status }, "job record updated");
        return;
      }
    }
    throw new SanpathError("aborted", `job record ${key} kept changing; not marked ${status}`, {
      reason: "CAS_CONFLICT",
    });
  }

  private diskPath(view: DiskView, index: number): DiskPath {
    const path = view.disk.paths.find((candidate) => candidate.index === index);
    if (path === undefined) throw pathNotFound(view.disk.id, index, view.disk.paths.length);
    return path;
  }

  /**
   * The path as it goes on this node: on the node's interface for the path's subnet. A node whose
   * config names no interface for that subnet does not serve it (its node record says so, and the
   * coordinator places no such path there); it never guesses an interface.
   */
  private localPathOf(view: DiskView, path: DiskPath): LocalPath {
    const configured = path.subnet === 1 ? this.options.interfaces.subnet1 : this.options.interfaces.subnet2;
    if (configured === undefined) {
      throw new SanpathError(
        "failed_precondition",
        `node ${this.options.nodeName} has no interface for iSCSI subnet ${path.subnet} (interfaces.subnet${path.subnet}): it cannot serve path ${path.index} of disk ${view.disk.id}`,
        { field: `interfaces.subnet${path.subnet}` },
      );
    }
    return {
      diskId: view.disk.id,
      index: path.index,
      ip: path.ip,
      prefixLength: path.prefixLength,
      interface: configured,
      vlanId: path.vlanId === 0 ? undefined : path.vlanId,
      iqn: view.disk.iqn,
      state: "configuring",
    };
  }

  private targetSpec(view: DiskView): TargetSpec {
    const { disk } = view;
    return {
      iqn: disk.iqn,
      backing: view.backing,
      acl:
        disk.acl.kind === "all"
          ? { allInitiators: true, initiatorIqns: [] }
          : { allInitiators: false, initiatorIqns: [...disk.acl.initiatorIqns] },
      chap: disk.chap === undefined ? undefined : { user: disk.chap.user, secret: disk.chap.secret },
    };
  }

  private viewOf(
    entry: LocalPath,
    state: { lockHeld: boolean; portalEnabled: boolean; ipPresent: boolean },
  ): ServedPathView {
    return {
      diskId: entry.diskId,
      index: entry.index,
      ip: entry.ip,
      prefixLength: entry.prefixLength,
      device: pathDevice(entry),
      iqn: entry.iqn,
      ...state,
    };
  }

  private otherPathOfDiskHere(local: LocalPath): boolean {
    return this.options.journal
      .values()
      .some((entry) => entry.iqn === local.iqn && entry.index !== local.index && entry.state !== "cleaning");
  }

  private checkPathRef(diskId: string, index: number): { diskId: string; index: number } {
    this.options.keys.diskPath(diskId, index); // throws INVALID_FIELD for a bad id or index
    return { diskId, index };
  }

  private checkJobId(jobId: string): void {
    if (jobId !== "") this.options.keys.assignmentHistory(jobId); // throws INVALID_FIELD
  }

  private async withPath<T>(key: string, task: () => Promise<T>): Promise<T> {
    this.inFlight += 1;
    try {
      return await this.queue.run(key, task);
    } finally {
      this.inFlight -= 1;
      if (this.inFlight === 0) {
        const waiters = this.idleWaiters;
        this.idleWaiters = [];
        for (const wake of waiters) wake();
      }
    }
  }

  /** Waits until no path operation runs, at most `timeoutMs`. */
  private async settle(timeoutMs: number): Promise<void> {
    if (this.inFlight === 0) return;
    await Promise.race([
      new Promise<void>((resolve) => this.idleWaiters.push(resolve)),
      new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref()),
    ]);
  }
}

/** `promise`, or a rejection after `ms` (the promise itself keeps running). */
async function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
