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
import type { JobPathMarker } from "../assignment/job-path-marker.js";
import type { EventLog } from "../events/event-log.js";
import type { ConsulKeys } from "../consul/keys.js";
import { errorMessage, invalidField } from "../errors/sanpath-error.js";
import type { KvStore } from "../kv/kv-store.js";
import type { SessionHandover } from "../kv/session-handover.js";
import type { SessionMemory } from "../kv/session-memory.js";
import type { SessionStore } from "../kv/session-store.js";
import type { Logger } from "../log/logger.js";
import type { AddressWatch } from "../net/address-watch.js";
import { isIPv4 } from "node:net";
import { performance } from "node:perf_hooks";
import { DataPathProbe, type DataPathHealth } from "./data-path-probe.js";
import { DegradedMode } from "./degraded-mode.js";
import type { DiskSource } from "./disk-source.js";
import { EpochGate } from "./epoch-gate.js";
import { LocalTeardown } from "./local-teardown.js";
import { nodeDegraded, nodeFenced } from "./node-errors.js";
import { writeNodeRecord, type NodeDegradation } from "./node-record.js";
import { NodeSession, type ActiveSession, type SessionSettings, type SessionStatus } from "./node-session.js";
import {
  PathOperations,
  type AcquirePathInput,
  type AcquirePathResult,
  type CleanPathInput,
  type CleanPathResult,
} from "./path-operations.js";
import { pathKeyOf, type PathJournal } from "./path-journal.js";
import type { PathLocks, PathRef } from "./path-locks.js";
import { PathQueue } from "./path-queue.js";
import { PathReconciliation } from "./path-reconciliation.js";
import { presenceOf, type LocalObservation, type PathSetup } from "./path-setup.js";
import { clusterViewOf, driftOf, type DriftItem } from "./reconcile-plan.js";
import { Reconciler } from "./reconciler.js";
import { servedPathView, type ServedPathView, type SubnetInterfaces } from "./served-path.js";
import { sweepUntilDone } from "./startup-sweep.js";
import { adoptHandedOverSession } from "./session-adoption.js";
import { StepTimings } from "./step-timings.js";
import type { LeaseStatus } from "./peer-lease-keeper.js";
import { checkLeaseRenewal, type PeerLease } from "./peer-lease-port.js";
import { MAX_PATHS_PER_BATCH, type LeaseGrant, type LeaseRenewal } from "../assignment/node-rpc.js";

export type {
  AcquirePathInput,
  AcquirePathResult,
  CleanPathInput,
  CleanPathResult,
  CleanPathTarget,
} from "./path-operations.js";
export type { ServedPathView } from "./served-path.js";

export interface NodeAgentOptions {
  nodeName: string;
  /** Fences and degradations are recorded here (default: nowhere). */
  events?: EventLog | undefined;
  /** host:port of this sanpathd, for the node record. */
  advertiseAddress: string;
  /** host:port of the lease worker's RenewLease listener, for the node record; none without one. */
  leaseAddress?: string | undefined;
  version: string;
  /** The disk keys (reconcile reads them) and the node record. */
  kv: KvStore;
  sessions: SessionStore;
  locks: PathLocks;
  /** Marks the job path records of reassignment jobs this node takes part in. */
  jobs: JobPathMarker;
  keys: ConsulKeys;
  disks: DiskSource;
  setup: PathSetup;
  journal: PathJournal;
  session: SessionSettings;
  /** Interface per iSCSI subnet; the node serves no path of a subnet without one. */
  interfaces: SubnetInterfaces;
  imageStoreKind: string;
  /** Where the session ids are remembered for the next daemon (default nowhere). */
  sessionMemory?: SessionMemory;
  /** Where a restarting daemon leaves its session to the next one (default nowhere: no restart mode). */
  handover?: SessionHandover;
  logger: Logger;
  /**
   * The node may (true) or may not (false) take paths now, for the health service: its session is
   * up and, with peer leases, it holds its lease (AcquirePath would not refuse NODE_FENCED).
   */
  onServingChange?: (serving: boolean) => void;
  reconcilePeriodMs?: number;
  /** Each reconcile pass that ran to its end (for the metrics). */
  onReconcilePass?: (fresh: boolean, seconds: number) => void;
  /** How often served paths are checked and repaired when drifted (data-path-probe.ts); 0 = never. */
  dataPathProbeMs?: number;
  /** Address changes that wake the data-path probe at once (default none: it waits its interval). */
  addressWatch?: AddressWatch;
  /**
   * How long the data path may be in trouble before the node hands its paths off and is degraded
   * (default 3 s; degraded-mode.ts).
   */
  dataPathUnhealthyAfterMs?: number;
  /** How long the data path must stay healthy before a degraded node takes paths again (default 10 s). */
  dataPathRecoverAfterMs?: number;
  /**
   * The node's data path became unhealthy or the node degraded (with the reason), or it is fine
   * again: for the health service.
   */
  onDataPathHealthChange?: (healthy: boolean, reason: string) => void;
  /**
   * The node's peer lease (peer-lease-keeper.ts): with it, the lease decides when to fence, the
   * node answers RenewLease, and a fence's tear-down has the lease's budget. Without it, Consul
   * confirmations decide and RenewLease is refused (granted false).
   */
  lease?: PeerLease | undefined;
}

export interface NodeCounters {
  acquires: number;
  acquireFailures: number;
  cleans: number;
  cleanFailures: number;
  reconciles: number;
  fences: number;
  staleEpochsRefused: number;
  /** Times the node became degraded (degraded-mode.ts) since start. */
  degradations: number;
}

export interface DataPathStatus extends DataPathHealth {
  /** Set while the node is degraded (it handed its paths off and takes none). */
  readonly degraded: NodeDegradation | undefined;
  readonly probeIntervalMs: number;
}

export interface NodeStatus {
  /** The peer lease; undefined when the node fences on Consul confirmations instead. */
  lease: LeaseStatus | undefined;
  node: string;
  address: string;
  version: string;
  session: SessionStatus & SessionSettings;
  paths: ServedPathView[];
  drift: DriftItem[];
  dataPath: DataPathStatus;
  counters: NodeCounters;
  highestEpoch: number;
  targetDriver: string;
  imageStore: string;
}

/** What metrics read of the node at each scrape: no Consul or driver call behind it. */
export interface NodeMetricsView {
  /** Paths served here, by disk and iSCSI subnet (0 when the interface is in no configured subnet). */
  served: { diskId: string; subnet: number; count: number }[];
  state: "serving" | "fenced" | "degraded" | "starting";
  session: SessionStatus;
  fenceDeadlineMs: number;
  dataPathHealthy: boolean;
  repairsAsked: number;
  counters: NodeCounters;
  highestEpoch: number;
}

const STATUS_CONSUL_TIMEOUT_MS = 2000;
const STATUS_LOCAL_TIMEOUT_MS = 3000;

/** The NodeService facade (AcquirePath, CleanPath, Status) and the node's life cycle. */
export class NodeAgent {
  private readonly epochs: EpochGate;
  private readonly queue = new PathQueue();
  private readonly counters = { acquires: 0, acquireFailures: 0, cleans: 0, cleanFailures: 0 };
  private readonly session: NodeSession;
  private readonly operations: PathOperations;
  private readonly reconciliation: PathReconciliation;
  private readonly teardown: LocalTeardown;
  private readonly reconciler: Reconciler;
  private readonly probe: DataPathProbe;
  private readonly degraded: DegradedMode;
  /** What the health service was last told of the data path. */
  private dataPathReported = { ok: true, reason: "" };
  /** A session started and has not been fenced since (the lease decides the rest: reportServing). */
  private sessionUp = false;
  /** What onServingChange was last told. */
  private servingReported = false;
  private readonly lifetime = new AbortController();
  private lifecycle: Promise<void> | undefined;
  private readonly log: Logger;

  constructor(private readonly options: NodeAgentOptions) {
    this.log = options.logger;
    this.epochs = new EpochGate(options.journal.highestEpoch);
    const currentSession = (): ActiveSession | undefined => this.session.current();
    this.operations = new PathOperations({
      nodeName: options.nodeName,
      interfaces: options.interfaces,
      disks: options.disks,
      setup: options.setup,
      journal: options.journal,
      locks: options.locks,
      jobs: options.jobs,
      epochs: this.epochs,
      logger: options.logger,
      currentSession,
      reportSessionLost: (why) => this.session.reportLost(why),
    });
    this.reconciliation = new PathReconciliation({
      kv: options.kv,
      keys: options.keys,
      disks: options.disks,
      setup: options.setup,
      journal: options.journal,
      locks: options.locks,
      operations: this.operations,
      queue: this.queue,
      logger: options.logger,
      currentSession,
      handingOff: () => this.degraded.current !== undefined,
      ...(options.onReconcilePass === undefined ? {} : { onPassDone: options.onReconcilePass }),
    });
    this.teardown = new LocalTeardown({
      journal: options.journal,
      setup: options.setup,
      queue: this.queue,
      session: options.session,
      ...(options.lease === undefined ? {} : { budgetMs: options.lease.timing.teardownBudgetMs }),
      logger: options.logger,
    });
    const lease = options.lease;
    this.session = new NodeSession({
      lease:
        lease === undefined
          ? undefined
          : {
              fenceAt: () => lease.fenceAt(),
              onChange: (listener) => lease.onChange(listener),
              // The successor has as long as a Consul-fenced node would have (session.fenceDeadlineMs).
              holdForHandover: () => lease.holdForHandover(options.session.fenceDeadlineMs),
            },
      sessions: options.sessions,
      nodeName: options.nodeName,
      settings: options.session,
      ...(options.sessionMemory === undefined ? {} : { memory: options.sessionMemory }),
      logger: options.logger,
      onFence: (reason) => {
        this.sessionUp = false;
        this.reportServing();
        return this.teardown.fence(reason);
      },
      onSession: (session) => this.sessionStarted(session),
      events: options.events,
      releaseLocksOf: (sessionId, signal) => this.operations.releaseLocksOf(sessionId, signal),
    });
    // A starting node's lease comes a renew after its session: SERVING waits for it.
    lease?.onChange(() => {
      this.reportServing();
    });
    this.reconciler = new Reconciler({
      kv: options.kv,
      keys: options.keys,
      logger: options.logger,
      pass: (entries, signal) => this.reconciliation.pass(entries, signal),
      ...(options.reconcilePeriodMs === undefined ? {} : { periodMs: options.reconcilePeriodMs }),
    });
    this.degraded = new DegradedMode({
      nodeName: options.nodeName,
      kv: options.kv,
      keys: options.keys,
      journal: options.journal,
      locks: options.locks,
      queue: this.queue,
      teardown: this.teardown,
      currentSession,
      recoverAfterMs: options.dataPathRecoverAfterMs ?? 10_000,
      logger: options.logger,
      onChange: () => this.reportDataPath(),
      events: options.events,
    });
    this.probe = new DataPathProbe({
      setup: options.setup,
      journal: options.journal,
      logger: options.logger,
      intervalMs: options.dataPathProbeMs ?? 0,
      ...(options.addressWatch === undefined ? {} : { addressWatch: options.addressWatch }),
      onDrift: () => this.reconciler.kick(),
      ...(options.dataPathUnhealthyAfterMs === undefined
        ? {}
        : { unhealthyAfterMs: options.dataPathUnhealthyAfterMs }),
      onHealthChange: (healthy, reason) => {
        this.degraded.dataPathChanged(healthy, reason);
        this.reportDataPath();
      },
    });
  }

  /** Sweeps local leftovers (retrying until it works), then starts the session and reconcile. */
  start(): void {
    this.lifecycle ??= this.run();
  }

  /** Tears down every path served here, releases the locks and destroys the session. */
  async stop(): Promise<void> {
    await this.quiesce();
    await this.session.stop(async () => {
      await this.queue.settle(5000);
      await this.teardown.tearDownAll("sanpathd is stopping", "stop");
    });
    this.options.lease?.stop();
    await this.options.setup.close();
    await this.options.journal.flush();
  }

  /**
   * Restart: stops without taking anything down. The targets, portals and IPs stay, the session
   * is confirmed once more and left (SessionHandover) to the next daemon, which adopts it before
   * the time this daemon would have fenced. True when the session was handed over; false when
   * there was none to hand over (the caller's crash guard then tears the paths down).
   */
  async handOver(): Promise<boolean> {
    await this.quiesce();
    const kept = await this.session.handOver();
    this.options.lease?.stop();
    const deadline = kept === undefined ? 0 : performance.now() + kept.validForMs;
    await this.queue.settle(2000);
    await this.options.journal.flush();
    await this.options.setup.close();
    const handover = this.options.handover;
    if (kept === undefined || handover === undefined) {
      this.log.warn("no confirmed session to hand over: the next daemon starts from a clean node");
      return false;
    }
    const validForMs = deadline - performance.now();
    if (validForMs <= 0) return false;
    try {
      await handover.leave(kept.id, validForMs);
    } catch (error) {
      this.log.error({ err: errorMessage(error) }, "session not handed over");
      return false;
    }
    this.log.info(
      { session: kept.id, validForMs: Math.round(validForMs), paths: this.options.journal.served().length },
      "restart: paths left up and the session handed over to the next daemon",
    );
    return true;
  }

  /** Stops everything that acts by itself (probe, degraded mode, reconcile, start-up). */
  private async quiesce(): Promise<void> {
    this.lifetime.abort();
    this.reportServing();
    await this.probe.stop();
    await this.degraded.stop();
    await this.reconciler.stop();
    await this.lifecycle;
  }

  async acquirePath(input: AcquirePathInput, signal: AbortSignal): Promise<AcquirePathResult> {
    const path = this.checkPathRef(input.diskId, input.index);
    this.checkJobId(input.jobId);
    try {
      await this.admitEpoch(input.epoch);
      this.refuseWhileDegraded();
      if (this.session.current() === undefined) throw nodeFenced(this.options.nodeName);
      const steps = new StepTimings();
      const result = await this.queue.run(pathKeyOf(path.diskId, path.index), () => {
        this.refuseWhileDegraded();
        return this.operations.acquire(input, path, signal, steps);
      });
      this.counters.acquires += 1;
      return result;
    } catch (error) {
      this.counters.acquireFailures += 1;
      throw error;
    }
  }

  /**
   * AcquirePath of several paths in one call (NodeService.AcquirePaths): the request is checked and
   * the epoch admitted once, then every path is acquired as acquirePath does it, all at the same
   * time (each in its own path queue, so concurrent work on the journal, the addresses and Consul
   * is shared). One outcome per path, in order; a failure of one path does not stop the others.
   */
  async acquirePaths(input: PathBatchInput, signal: AbortSignal): Promise<PathBatchResult[]> {
    const paths = this.checkBatch(input);
    await this.admitEpoch(input.epoch);
    return settleEach(paths, (path) =>
      this.acquirePath(
        { epoch: input.epoch, diskId: path.diskId, index: path.index, jobId: input.jobId },
        signal,
      ),
    );
  }

  /** CleanPath of several paths in one call (NodeService.CleanPaths), as acquirePaths. */
  async cleanPaths(input: PathBatchInput, signal: AbortSignal): Promise<PathBatchResult[]> {
    const paths = this.checkBatch(input);
    await this.admitEpoch(input.epoch);
    return settleEach(paths, (path) =>
      this.cleanPath(
        {
          epoch: input.epoch,
          target: { kind: "path", diskId: path.diskId, index: path.index },
          jobId: input.jobId,
        },
        signal,
      ),
    );
  }

  private checkBatch(input: PathBatchInput): PathRef[] {
    this.checkJobId(input.jobId);
    if (input.paths.length === 0 || input.paths.length > MAX_PATHS_PER_BATCH) {
      throw invalidField("paths", `1 to ${MAX_PATHS_PER_BATCH} paths, got ${input.paths.length}`);
    }
    const seen = new Set<string>();
    return input.paths.map((path, position) => {
      let checked: PathRef;
      try {
        checked = this.checkPathRef(path.diskId, path.index);
      } catch (error) {
        throw invalidField(`paths[${position}]`, `a disk id and a path index: ${errorMessage(error)}`);
      }
      const key = pathKeyOf(checked.diskId, checked.index);
      if (seen.has(key)) throw invalidField(`paths[${position}]`, `each path once (${key} is named twice)`);
      seen.add(key);
      return checked;
    });
  }

  /** Another node renews its peer lease here (NodeService.RenewLease). */
  renewLease(renewal: LeaseRenewal): Promise<LeaseGrant> {
    checkLeaseRenewal(renewal);
    const lease = this.options.lease;
    if (lease === undefined) {
      return Promise.resolve({ node: this.options.nodeName, granted: false, silences: new Map() });
    }
    return lease.answerRenew(renewal.node, renewal.holdMs ?? 0);
  }

  async cleanPath(input: CleanPathInput, signal: AbortSignal): Promise<CleanPathResult> {
    this.checkJobId(input.jobId);
    const steps = new StepTimings();
    try {
      await this.admitEpoch(input.epoch);
      const target = input.target;
      let path: PathRef;
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
        path = { diskId: owner.diskId, index: owner.index };
      } else {
        path = this.checkPathRef(target.diskId, target.index);
      }
      const result = await this.queue.run(pathKeyOf(path.diskId, path.index), () =>
        this.operations.clean(input, path, ip, signal, steps),
      );
      this.counters.cleans += 1;
      return result;
    } catch (error) {
      this.counters.cleanFailures += 1;
      throw error;
    }
  }

  /** The node's counters, the session's fences among them. */
  private countersWith(session: SessionStatus): NodeCounters {
    return {
      ...this.counters,
      reconciles: this.reconciliation.passCount,
      fences: session.fences,
      staleEpochsRefused: this.epochs.refusedCount,
      degradations: this.degraded.entries,
    };
  }

  metricsView(): NodeMetricsView {
    const { interfaces } = this.options;
    const served = new Map<string, { diskId: string; subnet: number; count: number }>();
    for (const path of this.options.journal.served()) {
      const subnet =
        path.interface === interfaces.subnet1 ? 1 : path.interface === interfaces.subnet2 ? 2 : 0;
      const key = `${path.diskId}/${subnet}`;
      const row = served.get(key) ?? { diskId: path.diskId, subnet, count: 0 };
      row.count += 1;
      served.set(key, row);
    }
    const session = this.session.status();
    const health = this.probe.current;
    const state =
      this.degraded.current !== undefined
        ? "degraded"
        : session.fenced
          ? "fenced"
          : session.healthy
            ? "serving"
            : "starting";
    return {
      served: [...served.values()],
      state,
      session,
      fenceDeadlineMs: this.options.session.fenceDeadlineMs,
      dataPathHealthy: health.healthy,
      repairsAsked: health.repairsAsked,
      counters: this.countersWith(session),
      highestEpoch: this.epochs.highest,
    };
  }

  async status(epoch: number, signal: AbortSignal): Promise<NodeStatus> {
    await this.admitEpoch(epoch);
    const sessionStatus = this.session.status();
    const local = this.options.journal.values();
    let observed: LocalObservation | undefined;
    try {
      // Bounded: a target daemon blocked on an unreachable Ceph must not stall Status.
      observed = await withTimeout(this.options.setup.observe(signal, "snapshot"), STATUS_LOCAL_TIMEOUT_MS);
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
        return servedPathView(entry, {
          lockHeld: sessionStatus.id !== undefined && view?.paths.get(key)?.session === sessionStatus.id,
          portalEnabled: presence?.portalEnabled ?? false,
          ipPresent: presence?.ipPresent ?? false,
        });
      });
    return {
      lease: this.options.lease?.status(),
      node: this.options.nodeName,
      address: this.options.advertiseAddress,
      version: this.options.version,
      session: { ...sessionStatus, ...this.options.session },
      paths,
      drift: view === undefined ? [] : driftOf(view, sessionStatus.id, local, observed),
      dataPath: {
        ...this.probe.current,
        degraded: this.degraded.current,
        probeIntervalMs: this.options.dataPathProbeMs ?? 0,
      },
      counters: this.countersWith(sessionStatus),
      highestEpoch: this.epochs.highest,
      targetDriver: this.options.setup.targetKind,
      imageStore: this.options.imageStoreKind,
    };
  }

  private async run(): Promise<void> {
    const { journal, setup, disks, logger } = this.options;
    const { handover, sessions } = this.options;
    const adopted =
      handover === undefined
        ? undefined
        : await adoptHandedOverSession({
            handover,
            sessions,
            servedPaths: () => journal.served().length,
            logger,
            signal: this.lifetime.signal,
          });
    if (
      adopted === undefined &&
      !(await sweepUntilDone({ journal, setup, disks, logger }, this.lifetime.signal))
    )
      return;
    this.reconciler.start();
    this.session.start(adopted);
    this.probe.start();
  }

  private async sessionStarted(session: ActiveSession): Promise<void> {
    const { kv, keys, nodeName, advertiseAddress, leaseAddress, version, interfaces } = this.options;
    try {
      await writeNodeRecord(
        kv,
        keys,
        {
          name: nodeName,
          address: advertiseAddress,
          leaseAddress,
          interfaces,
          version,
          startedAt: new Date(),
          session: session.id,
          degraded: this.degraded.current,
        },
        { signal: AbortSignal.any([session.signal, AbortSignal.timeout(5000)]) },
      );
    } catch (error) {
      this.log.warn({ err: errorMessage(error) }, "node record not written");
    }
    this.sessionUp = true;
    this.reportServing();
    this.reconciler.kick();
  }

  /**
   * Tells onServingChange whether the node may take paths now: a session up, not stopping, and the
   * session usable (with peer leases: the lease held, which a starting node gets one renew later).
   */
  private reportServing(): void {
    const serving = this.sessionUp && !this.lifetime.signal.aborted && this.session.current() !== undefined;
    if (serving === this.servingReported) return;
    this.servingReported = serving;
    this.options.onServingChange?.(serving);
  }

  private refuseWhileDegraded(): void {
    const degraded = this.degraded.current;
    if (degraded !== undefined) throw nodeDegraded(this.options.nodeName, degraded.reason);
  }

  /** Tells the health service whether the data path is fine: healthy and not degraded. */
  private reportDataPath(): void {
    const health = this.probe.current;
    const degraded = this.degraded.current;
    const ok = health.healthy && degraded === undefined;
    const reason = ok ? "" : degraded === undefined ? health.reason : `degraded: ${degraded.reason}`;
    if (ok === this.dataPathReported.ok && reason === this.dataPathReported.reason) return;
    this.dataPathReported = { ok, reason };
    this.options.onDataPathHealthChange?.(ok, reason);
  }

  /** Refuses a stale epoch; a higher one is on disk (path journal) before the request goes on. */
  private async admitEpoch(epoch: number): Promise<void> {
    this.epochs.admit(epoch);
    await this.options.journal.raiseHighestEpoch(this.epochs.highest);
  }

  private checkPathRef(diskId: string, index: number): PathRef {
    this.options.keys.diskPath(diskId, index); // throws INVALID_FIELD for a bad id or index
    return { diskId, index };
  }

  private checkJobId(jobId: string): void {
    if (jobId !== "") this.options.keys.assignmentHistory(jobId); // throws INVALID_FIELD
  }
}

/** Several paths of one node in one call (AcquirePaths / CleanPaths). */
export interface PathBatchInput {
  epoch: number;
  paths: readonly PathRef[];
  /** "" when not part of a reassignment job. */
  jobId: string;
}

/** One path's outcome in a batch: `error` is what the single-path call failed with. */
export interface PathBatchResult {
  diskId: string;
  index: number;
  error?: unknown;
}

/** Runs `work` for every path at once; one result per path, in order, whatever the others do. */
async function settleEach(
  paths: readonly PathRef[],
  work: (path: PathRef) => Promise<unknown>,
): Promise<PathBatchResult[]> {
  const settled = await Promise.allSettled(paths.map((path) => work(path)));
  return settled.map((outcome, position) => {
    const path = paths[position];
    if (path === undefined) throw new Error("a batch outcome without its path");
    return outcome.status === "fulfilled"
      ? { diskId: path.diskId, index: path.index }
      : { diskId: path.diskId, index: path.index, error: outcome.reason as unknown };
  });
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
