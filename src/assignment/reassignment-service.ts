import type { KvStore } from "../kv/kv-store.js";
import { TransactionConflictError } from "../kv/transaction-conflict.js";
import type { CallOptions } from "../util/call-options.js";
import type { ConsulKeys } from "../consul/keys.js";
import { invalidField, SanpathError } from "../errors/sanpath-error.js";
import type { Logger } from "../log/logger.js";
import type { Plan, PlannedMove } from "./assignment-model.js";
import type { ClusterState, ClusterStateReader, NodeState } from "./assignment-stats.js";
import { planAverage } from "./average-planner.js";
import { planDrain } from "./drain-planner.js";
import { jobNotFound, noLeader, planStale, reassignmentRunning } from "./job-errors.js";
import { followJobEvents } from "./job-events.js";
import type { Job, JobEvent } from "./job-model.js";
import type { JobPathStatus } from "./job-record.js";
import type { JobStore, NewJob } from "./job-store.js";
import { planManual } from "./manual-planner.js";

export type ReassignmentSpec =
  | { readonly mode: "auto"; readonly planner: "average" }
  | { readonly mode: "manual"; readonly ips: readonly string[]; readonly targetNode: string }
  /** Only for plan(): what drain() would move off the node. */
  | { readonly mode: "drain"; readonly node: string };

export interface PathFilter {
  /** Case-insensitive substring of the disk name; "" = any. */
  readonly diskName: string;
  /** Exact IP; "" = any. */
  readonly ip: string;
  /** Exact node name; "" = any. */
  readonly node: string;
}

export interface ListedPath {
  readonly diskId: string;
  readonly diskName: string;
  readonly index: number;
  readonly ip: string;
  readonly subnet: number;
  readonly node: string;
  /** The running job's status for the path; undefined when the job does not move it. */
  readonly jobStatus: JobPathStatus | undefined;
  readonly jobTargetNode: string;
}

export interface PathListing {
  readonly paths: readonly ListedPath[];
  readonly onlineNodes: readonly string[];
  readonly busy: boolean;
  readonly stateIndex: number;
}

export interface PlanAnswer extends Plan {
  readonly stateIndex: number;
}

export interface StartRequest {
  readonly spec: ReassignmentSpec;
  /** 0 = do not check. */
  readonly stateIndex: number;
  /** 0 = the configured default. */
  readonly parallelism: number;
  readonly startedBy: string;
}

export interface ReassignmentServiceOptions {
  kv: KvStore;
  keys: ConsulKeys;
  reader: ClusterStateReader;
  store: JobStore;
  /** Whether a coordinator is elected now (jobs only run under one). */
  hasLeader: (options: CallOptions) => Promise<boolean>;
  /** This node's name (recorded on jobs it takes). */
  nodeName: string;
  /** Moves in flight when a request asks for 0 (config reassignment.parallelism). */
  defaultParallelism: number;
  logger: Logger;
}

const MAX_PARALLELISM = 64;
const CORDON_ATTEMPTS = 10;

/**
 * AssignmentService and the node maintenance of ClusterService, on any node: reads and plans from
 * Consul, stores jobs in Consul (the coordinator runs them), follows job events in Consul.
 */
export class ReassignmentService {
  constructor(private readonly options: ReassignmentServiceOptions) {}

  async listPaths(filter: PathFilter, options: CallOptions = {}): Promise<PathListing> {
    const [state, running] = await Promise.all([
      this.options.reader.read(options),
      this.options.store.readRunning(options),
    ]);
    const byIp = new Map((running?.moves ?? []).map((move) => [move.ip, move]));
    const wanted = filter.diskName.trim().toLowerCase();
    const paths = state.paths
      .filter(
        (path) =>
          (wanted === "" || path.diskName.toLowerCase().includes(wanted)) &&
          (filter.ip === "" || path.ip === filter.ip.trim()) &&
          (filter.node === "" || path.node === filter.node),
      )
      .map((path): ListedPath => {
        const move = byIp.get(path.ip);
        return {
          ...path,
          jobStatus: move?.status,
          jobTargetNode: move?.targetNode ?? "",
        };
      });
    return {
      paths,
      onlineNodes: state.nodes.filter((node) => node.online).map((node) => node.name),
      busy: running !== undefined,
      stateIndex: state.stateIndex,
    };
  }

  async listNodes(options: CallOptions = {}): Promise<readonly NodeState[]> {
    return (await this.options.reader.read(options)).nodes;
  }

  async plan(spec: ReassignmentSpec, options: CallOptions = {}): Promise<PlanAnswer> {
    const state = await this.options.reader.read(options);
    return { ...planFor(spec, state), stateIndex: state.stateIndex };
  }

  /**
   * Plans again on the current state and stores the job; the coordinator runs it. Refused with
   * ABORTED (PLAN_STALE) when `stateIndex` is set and the cluster changed since, with
   * FAILED_PRECONDITION (REASSIGNMENT_RUNNING) when a job exists, UNAVAILABLE (NO_LEADER) when no
   * coordinator is elected.
   */
  async start(request: StartRequest, options: CallOptions = {}): Promise<Job> {
    const parallelism = this.parallelism(request.parallelism);
    const [state, running] = await Promise.all([
      this.options.reader.read(options),
      this.options.store.readRunning(options),
    ]);
    if (running !== undefined) throw reassignmentRunning(running.header.id);
    if (request.stateIndex !== 0 && request.stateIndex !== state.stateIndex) {
      throw planStale(request.stateIndex, state.stateIndex);
    }
    const { spec } = request;
    if (spec.mode === "drain") {
      throw new SanpathError(
        "invalid_argument",
        "spec.drain: StartReassignment does not drain a node; call DrainNode, which cordons it first",
        { field: "spec.drain", reason: "INVALID_FIELD" },
      );
    }
    const plan = planFor(spec, state);
    return await this.createJob(
      {
        kind: spec.mode,
        drainNode: "",
        ...(spec.mode === "manual" ? { manualTarget: spec.targetNode } : {}),
      },
      plan.moves,
      parallelism,
      request.startedBy,
      options,
    );
  }

  /** Cordons the node and stores a job moving every path off it. */
  async drain(
    node: string,
    parallelismRequest: number,
    startedBy: string,
    options: CallOptions & { onCordoned?: () => void } = {},
  ): Promise<Job> {
    const parallelism = this.parallelism(parallelismRequest);
    const running = await this.options.store.readRunning(options);
    if (running !== undefined) throw reassignmentRunning(running.header.id);
    await this.setCordoned(node, true, options);
    options.onCordoned?.();
    const state = await this.options.reader.read(options);
    const plan = planDrain(state.paths, state.nodes, node);
    for (const path of plan.unplaced) {
      this.options.logger.warn({ node, ip: path.ip, reason: path.reason }, "drain: a path has nowhere to go");
    }
    return await this.createJob(
      { kind: "drain", drainNode: node },
      plan.moves,
      parallelism,
      startedBy,
      options,
    );
  }

  private async createJob(
    what: Pick<NewJob, "kind" | "drainNode" | "manualTarget">,
    moves: readonly PlannedMove[],
    parallelism: number,
    startedBy: string,
    options: CallOptions,
  ): Promise<Job> {
    const { kind, drainNode } = what;
    if (moves.length > 0 && !(await this.options.hasLeader(options))) throw noLeader();
    const job = await this.options.store.create(
      { ...what, moves, parallelism, startedBy, requestedOn: this.options.nodeName },
      options,
    );
    this.options.logger.info(
      { jobId: job.header.id, kind, moves: moves.length, parallelism, startedBy, drainNode },
      "reassignment job stored",
    );
    return job;
  }

  private parallelism(requested: number): number {
    if (requested === 0) return this.options.defaultParallelism;
    if (!Number.isInteger(requested) || requested < 1 || requested > MAX_PARALLELISM) {
      throw invalidField(
        "parallelism",
        `must be 1..${MAX_PARALLELISM} (0 = the configured default), got ${requested}`,
      );
    }
    return requested;
  }

  get(id: string, options: CallOptions = {}): Promise<Job> {
    return this.options.store.get(id, options);
  }

  list(options: CallOptions = {}): Promise<Job[]> {
    return this.options.store.list(options);
  }

  cancel(id: string, options: CallOptions = {}): Promise<Job> {
    return this.options.store.requestCancel(id, options);
  }

  /** The job's events after `afterSequence`, as Consul has them and as they come. */
  async *watch(
    id: string,
    afterSequence: number,
    stopWhenDone: boolean,
    signal: AbortSignal,
  ): AsyncGenerator<JobEvent, void, undefined> {
    const job = await this.options.store.get(id, { signal });
    if (id !== "" && job.header.id !== id) throw jobNotFound(id);
    yield* followJobEvents(this.options.kv, this.options.keys, job.header.id, {
      signal,
      afterSequence,
      stopWhenDone,
      onError: (error) => this.options.logger.debug({ err: String(error) }, "job event follow"),
    });
  }

  /**
   * Sets the node's cordoned flag in its record (check-and-set, keeping every other field and the
   * record's lock). NOT_FOUND (NODE_NOT_FOUND) when the node has no record.
   */
  async setCordoned(node: string, cordoned: boolean, options: CallOptions = {}): Promise<NodeState> {
    const { kv, keys } = this.options;
    let key: string;
    try {
      key = keys.node(node);
    } catch {
      throw nodeNotFound(node);
    }
    for (let attempt = 0; attempt < CORDON_ATTEMPTS; attempt++) {
      const entry = await kv.get(key, options);
      if (entry === undefined) throw nodeNotFound(node);
      let record: Record<string, unknown>;
      try {
        const parsed: unknown = JSON.parse(entry.value);
        if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed))
          throw new Error("not an object");
        record = parsed as Record<string, unknown>;
      } catch (error) {
        throw new SanpathError("data_loss", `node record ${key} is unreadable`, {
          reason: "METADATA_UNREADABLE",
          cause: error,
        });
      }
      if (record.cordoned !== cordoned) {
        try {
          await kv.transaction(
            [{ verb: "cas", key, value: JSON.stringify({ ...record, cordoned }), index: entry.modifyIndex }],
            options,
          );
        } catch (error) {
          if (error instanceof TransactionConflictError) continue;
          throw error;
        }
        this.options.logger.info({ node, cordoned }, cordoned ? "node cordoned" : "node uncordoned");
      }
      const summary = (await this.options.reader.read(options)).nodes.find(
        (candidate) => candidate.name === node,
      );
      if (summary === undefined) throw nodeNotFound(node);
      return summary;
    }
    throw new SanpathError("aborted", `node record ${key} kept changing; try again`, {
      reason: "CAS_CONFLICT",
    });
  }

  readState(options: CallOptions = {}): Promise<ClusterState> {
    return this.options.reader.read(options);
  }
}

function nodeNotFound(node: string): SanpathError {
  return new SanpathError("not_found", `node: no node is named "${node}"`, {
    reason: "NODE_NOT_FOUND",
    field: "node",
  });
}

/** The plan of a spec over the cluster's running paths and nodes. */
export function planFor(spec: ReassignmentSpec, state: ClusterState): Plan {
  if (spec.mode === "auto") return planAverage(state.paths, state.nodes);
  if (spec.mode === "drain") return planDrain(state.paths, state.nodes, spec.node);
  return planManual(state.paths, state.nodes, { ips: spec.ips, targetNode: spec.targetNode });
}
