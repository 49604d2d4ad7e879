import type { KvStore } from "../kv/kv-store.js";
import type { EventLog } from "../events/event-log.js";
import type { LiveSessions } from "../kv/session-store.js";
import { watchPrefix } from "../kv/watch.js";
import { isAborted } from "../util/abort.js";
import { setTimeout as sleep } from "node:timers/promises";
import type { ClusterStateReader } from "../assignment/assignment-stats.js";
import { ActiveMoves } from "../assignment/active-moves.js";
import { JobRunner, type LeaderTerm } from "../assignment/job-runner.js";
import type { JobStore } from "../assignment/job-store.js";
import { DEFAULT_CALLS_PER_NODE, NodeCallSlots } from "../assignment/node-call-slots.js";
import type { NodeRpc } from "../assignment/node-rpc.js";
import type { ConsulKeys } from "../consul/keys.js";
import { errorMessage } from "../errors/sanpath-error.js";
import { NO_METRICS, type MetricsRecorder } from "../metrics/metrics-recorder.js";
import type { Logger } from "../log/logger.js";
import { AutoFailback, type AutoFailbackSettings } from "./auto-failback.js";
import type { Term } from "./election.js";
import { PlacementLoop, type PlacementLeases, type NodeCounts } from "./placement-loop.js";

export interface CoordinatorOptions {
  kv: KvStore;
  sessions: LiveSessions;
  keys: ConsulKeys;
  reader: ClusterStateReader;
  store: JobStore;
  nodes: NodeRpc;
  logger: Logger;
  /** Deadline of one NodeService call, from when it has its node's call slot (default 20 s). */
  rpcTimeoutMs?: number;
  /**
   * NodeService calls (CleanPath, AcquirePath) in flight at once per node, jobs and placement
   * together (default DEFAULT_CALLS_PER_NODE = 8). More than a node can answer quickly only make
   * every call (and every path's outage) longer, and the last ones fail their deadline.
   */
  callsPerNode?: number;
  /** Lock-delay of the node sessions (ms; default: the term's, the cluster's session setting). */
  lockDelayMs?: number;
  /** Moves and placements are counted and timed here (default: nowhere). */
  metrics?: MetricsRecorder;
  /** Placements, failovers, moves and jobs are recorded here (default: nowhere). */
  events?: EventLog | undefined;
  /** This node's name: the actor of its placements. */
  nodeName?: string | undefined;
  /**
   * Peer leases (liveness.mode peer-lease): placement acts on expiry proofs; `watchExpiries` wakes
   * it the moment a node's lease is proven over.
   */
  lease?:
    | (PlacementLeases & {
        watchExpiries(signal: AbortSignal, onExpiry: (nodes: readonly string[]) => void): void;
      })
    | undefined;
  /** Auto failback (config failback.*; auto-failback.ts); off when unset or not enabled. */
  failback?:
    (AutoFailbackSettings & { readonly enabled: boolean; readonly checkIntervalMs?: number }) | undefined;
}

/**
 * What the elected sanpathd does for as long as it leads (Election.lead): places free paths, and
 * runs the reassignment job stored in Consul (resuming one a previous coordinator left). Both stop
 * the moment the term ends; whatever they were doing is in Consul for the next coordinator.
 */
export class Coordinator {
  private placement: PlacementLoop | undefined;
  private epoch = 0;

  constructor(private readonly options: CoordinatorOptions) {}

  /** While this node leads: the paths nobody serves as of the last placement pass (metrics). */
  get leading():
    | {
        readonly epoch: number;
        readonly unservedPaths: number | undefined;
        readonly nodes: NodeCounts | undefined;
      }
    | undefined {
    const placement = this.placement;
    return placement === undefined
      ? undefined
      : { epoch: this.epoch, unservedPaths: placement.unservedPaths, nodes: placement.nodesByState };
  }

  async lead(term: Term): Promise<void> {
    const { kv, keys, logger } = this.options;
    const log = logger.child({ epoch: term.epoch });
    const leaderTerm: LeaderTerm = {
      epoch: term.epoch,
      fence: { lockKey: term.lockKey, session: term.session },
      signal: term.signal,
    };
    const moves = new ActiveMoves();
    const slots = new NodeCallSlots(this.options.callsPerNode ?? DEFAULT_CALLS_PER_NODE);
    const placement = new PlacementLoop({
      reader: this.options.reader,
      store: this.options.store,
      nodes: this.options.nodes,
      epoch: term.epoch,
      signal: term.signal,
      logger: log,
      moves,
      slots,
      metrics: this.options.metrics ?? NO_METRICS,
      events: this.options.events,
      nodeName: this.options.nodeName,
      lockDelayMs: this.options.lockDelayMs ?? term.lockDelayMs,
      lease: this.options.lease,
      ...(this.options.rpcTimeoutMs === undefined ? {} : { rpcTimeoutMs: this.options.rpcTimeoutMs }),
    });
    const poke = async (prefix: string): Promise<void> => {
      for await (const _snapshot of watchPrefix(kv, prefix, {
        signal: term.signal,
        waitSeconds: 30,
        onError: (error) => log.debug({ prefix, err: error.message }, "coordinator watch"),
      })) {
        placement.poke();
      }
    };
    this.placement = placement;
    this.epoch = term.epoch;
    this.options.lease?.watchExpiries(term.signal, (expired) => {
      log.warn({ nodes: expired }, "peer lease proven over: placing the node's paths");
      placement.poke();
    });
    try {
      await Promise.all([
        placement.run(),
        poke(keys.disks()),
        poke(keys.nodes()),
        this.runJobs(leaderTerm, { moves, slots }, placement, log),
        this.autoFailback(term, log)?.run(),
      ]);
    } finally {
      if (this.placement === placement) this.placement = undefined;
    }
  }

  /** The term's auto failback, with fresh timers (none when it is off). */
  private autoFailback(term: Term, log: Logger): AutoFailback | undefined {
    const { failback } = this.options;
    if (failback?.enabled !== true) return undefined;
    return new AutoFailback({
      reader: this.options.reader,
      store: this.options.store,
      settings: failback,
      signal: term.signal,
      logger: log.child({ part: "auto-failback" }),
      nodeName: this.options.nodeName ?? "",
      ...(failback.checkIntervalMs === undefined ? {} : { checkIntervalMs: failback.checkIntervalMs }),
    });
  }

  /** Runs the stored job whenever there is one, one after the other. */
  private async runJobs(
    term: LeaderTerm,
    shared: { moves: ActiveMoves; slots: NodeCallSlots },
    placement: PlacementLoop,
    log: Logger,
  ): Promise<void> {
    const { kv, keys, store, nodes } = this.options;
    const { signal } = term;
    let index = 0;
    while (!signal.aborted) {
      try {
        const answer = await kv.getBlocking(keys.assignmentRoot(), { index, waitSeconds: 30, signal });
        index = answer.index;
        if (answer.entry === undefined) continue;
        const runner = new JobRunner({
          kv,
          sessions: this.options.sessions,
          keys,
          store,
          nodes,
          term,
          logger: log,
          moves: shared.moves,
          slots: shared.slots,
          reader: this.options.reader,
          onMoveFailed: (ip, excluded) => placement.exclude(ip, excluded),
          metrics: this.options.metrics ?? NO_METRICS,
          events: this.options.events,
          ...(this.options.rpcTimeoutMs === undefined ? {} : { rpcTimeoutMs: this.options.rpcTimeoutMs }),
        });
        const outcome = await runner.run();
        placement.poke();
        if (outcome === "waiting") await sleep(1000, undefined, { signal }).catch(() => undefined);
        index = 0;
      } catch (error) {
        if (isAborted(signal)) return;
        log.warn({ err: errorMessage(error) }, "running the reassignment job failed; trying again");
        await sleep(1000, undefined, { signal }).catch(() => undefined);
        index = 0;
      }
    }
  }
}
