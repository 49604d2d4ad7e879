import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { EventDropReason } from "../events/kv-event-log.js";
import type { MetricsRecorder, MoveResult, PlacementCause } from "./metrics-recorder.js";

/** Seconds buckets for things that take milliseconds to a minute (moves, placements, calls). */
const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
/** Seconds buckets for a failover (target: under 3 s; today up to ~11 s). */
const FAILOVER_BUCKETS = [0.25, 0.5, 1, 1.5, 2, 3, 4, 5, 7.5, 10, 15, 20, 30, 60];

/** What the node agent reports at scrape time (from NodeAgent.status). */
export interface NodeSnapshot {
  /** Paths served here, by disk id and subnet. */
  readonly served: readonly { readonly diskId: string; readonly subnet: number; readonly count: number }[];
  readonly state: NodeStateName;
  /** Seconds since Consul last confirmed the session; undefined without one. */
  readonly sessionAgeSeconds: number | undefined;
  readonly fenceDeadlineSeconds: number;
  readonly dataPathHealthy: boolean;
  /** The highest coordinator epoch the node has seen (a NodeService call carries it). */
  readonly highestEpoch: number;
  /** The node's peer lease (liveness.mode peer-lease); undefined in consul mode. */
  readonly lease?: PeerLeaseSnapshot | undefined;
}

/** A node's peer lease at scrape time (from PeerLease.status). */
export interface PeerLeaseSnapshot {
  /** How long the lease still holds (0 without one). */
  readonly validSeconds: number;
  /** Renews the peers granted, since start. */
  readonly renewals: number;
  /** Per peer: seconds since it last granted a renew of this node's; undefined while it never did. */
  readonly peers: readonly { readonly node: string; readonly grantedAgoSeconds: number | undefined }[];
}

export type NodeStateName = "serving" | "fenced" | "degraded" | "starting";
export type ClusterNodeState = "online" | "offline" | "cordoned" | "degraded";
const CLUSTER_NODE_STATES: readonly ClusterNodeState[] = ["online", "offline", "cordoned", "degraded"];
const NODE_STATES: readonly NodeStateName[] = ["serving", "fenced", "degraded", "starting"];
const MOVE_RESULTS: readonly MoveResult[] = ["succeeded", "failed"];
const EVENT_DROP_REASONS: readonly EventDropReason[] = ["overflow", "stop"];

/** Counters kept by the node agent, read at scrape time (they only grow). */
export interface NodeCounterSnapshot {
  readonly confirmations: number;
  readonly fences: Readonly<Record<string, number>>;
  readonly degradations: number;
  readonly acquires: number;
  readonly acquireFailures: number;
  readonly cleans: number;
  readonly cleanFailures: number;
  readonly repairsAsked: number;
}

/** What the node agent reports at scrape time: its state and its counters. */
export interface NodeReport {
  readonly node: NodeSnapshot;
  readonly counters: NodeCounterSnapshot;
}

/** What the coordinator side reports at scrape time. */
export interface CoordinatorSnapshot {
  readonly leader: boolean;
  /** Leader only: its own epoch. */
  readonly epoch?: number | undefined;
  /** Leader only: paths of running disks nobody serves, as of its last placement pass. */
  readonly unservedPaths: number | undefined;
  /** Leader only: the cluster's nodes by state, as of its last placement pass. */
  readonly nodes?: Readonly<Record<ClusterNodeState, number>> | undefined;
}

type Snapshot<T> = () => Promise<T | undefined> | T | undefined;

/**
 * Every sanpath_* metric of one sanpathd, on a registry of its own (with the Node.js process
 * metrics), following Prometheus naming: base units (seconds), `_total` counters. Labels are
 * bounded: method names, command names, disk ids (not addresses), phases, causes.
 */
export class PrometheusMetrics implements MetricsRecorder {
  readonly registry = new Registry();
  private nodeSource: Snapshot<NodeReport> = () => undefined;
  private coordinatorSource: Snapshot<CoordinatorSnapshot> = () => undefined;
  /** What the scrape under way read, once, for every collector. */
  private scrape: { node?: NodeReport | undefined; coordinator?: CoordinatorSnapshot | undefined } = {};

  private readonly moves: Counter<"result">;
  private readonly moveSeconds: Histogram<"phase">;
  private readonly placementSeconds: Histogram<"cause">;
  private readonly failoverSeconds: Histogram;
  private readonly grpcHandled: Counter<"method" | "code">;
  private readonly grpcSeconds: Histogram<"method">;
  private readonly commandSeconds: Histogram<"command" | "result">;
  private readonly consulSeconds: Histogram<"operation" | "result">;
  private readonly reconcileSeconds: Histogram<"read">;
  private readonly eventsWrittenTotal: Counter;
  private readonly eventsDroppedTotal: Counter<"reason">;
  private eventQueueSource: () => number = () => 0;

  constructor(info: { version: string; node: string }) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: "sanpath_build_info",
      help: "Always 1: the sanpathd version and node name as labels.",
      labelNames: ["version", "node"],
      registers,
    }).set({ version: info.version, node: info.node }, 1);

    const readNode = (): Promise<NodeSnapshot | undefined> => Promise.resolve(this.scrape.node?.node);
    const readCounters = (): Promise<NodeCounterSnapshot | undefined> =>
      Promise.resolve(this.scrape.node?.counters);
    const readCoordinator = (): Promise<CoordinatorSnapshot | undefined> =>
      Promise.resolve(this.scrape.coordinator);
    new Gauge({
      name: "sanpath_node_paths_served",
      help: "Paths this node serves, by disk id and iSCSI subnet.",
      labelNames: ["disk", "subnet"],
      registers,
      async collect() {
        this.reset();
        const node = await readNode();
        for (const row of node?.served ?? []) {
          this.set({ disk: row.diskId, subnet: String(row.subnet) }, row.count);
        }
      },
    });
    new Gauge({
      name: "sanpath_node_state",
      help: "1 for the state this node is in (serving, fenced, degraded, starting), 0 for the others.",
      labelNames: ["state"],
      registers,
      async collect() {
        const node = await readNode();
        for (const state of NODE_STATES) this.set({ state }, node?.state === state ? 1 : 0);
      },
    });
    new Gauge({
      name: "sanpath_session_confirmed_age_seconds",
      help: "Seconds since Consul last confirmed this node's session (it fences at sanpath_session_fence_deadline_seconds); NaN while it holds none.",
      registers,
      async collect() {
        this.set((await readNode())?.sessionAgeSeconds ?? Number.NaN);
      },
    });
    new Gauge({
      name: "sanpath_session_fence_deadline_seconds",
      help: "The fence deadline: a node whose session is not confirmed for this long tears its paths down.",
      registers,
      async collect() {
        this.reset();
        const node = await readNode();
        if (node !== undefined) this.set(node.fenceDeadlineSeconds);
      },
    });
    new Gauge({
      name: "sanpath_peer_lease_valid_seconds",
      help: "How long this node's peer lease still holds without another renew (0: none, the node fences); NaN in liveness.mode consul.",
      registers,
      async collect() {
        this.set((await readNode())?.lease?.validSeconds ?? Number.NaN);
      },
    });
    new Gauge({
      name: "sanpath_peer_lease_granted_age_seconds",
      help: "Seconds since each peer last granted a renew of this node's peer lease (absent while it never did).",
      labelNames: ["peer"],
      registers,
      async collect() {
        this.reset();
        for (const peer of (await readNode())?.lease?.peers ?? []) {
          if (peer.grantedAgoSeconds !== undefined) this.set({ peer: peer.node }, peer.grantedAgoSeconds);
        }
      },
    });
    counterFromSnapshot(
      registers,
      "sanpath_peer_lease_renewals_total",
      "Renews of this node's peer lease its peers granted.",
      [],
      async () => {
        const lease = (await readNode())?.lease;
        return lease === undefined ? [] : [[{}, lease.renewals]];
      },
    );
    new Gauge({
      name: "sanpath_data_path_healthy",
      help: "1 while the data-path probe finds every served path really there (target, portal, IP).",
      registers,
      async collect() {
        this.reset();
        const node = await readNode();
        if (node !== undefined) this.set(node.dataPathHealthy ? 1 : 0);
      },
    });
    counterFromSnapshot(
      registers,
      "sanpath_session_confirmations_total",
      "Session renews Consul confirmed.",
      [],
      async () => {
        const counters = await readCounters();
        return counters === undefined ? [] : [[{}, counters.confirmations]];
      },
    );
    counterFromSnapshot(
      registers,
      "sanpath_fences_total",
      "Times this node fenced itself (tore every path down), by cause: session-gone, unconfirmed (Consul fencing) or lease-lost (peer leases).",
      ["cause"],
      async () =>
        Object.entries((await readCounters())?.fences ?? {}).map(([cause, count]) => [{ cause }, count]),
    );
    counterFromSnapshot(
      registers,
      "sanpath_degradations_total",
      "Times this node became degraded (its data path failed and it handed its paths off).",
      [],
      async () => {
        const counters = await readCounters();
        return counters === undefined ? [] : [[{}, counters.degradations]];
      },
    );
    counterFromSnapshot(
      registers,
      "sanpath_path_operations_total",
      "AcquirePath and CleanPath calls this node ran, by operation and result.",
      ["operation", "result"],
      async () => {
        const c = await readCounters();
        if (c === undefined) return [];
        return [
          [{ operation: "acquire", result: "ok" }, c.acquires],
          [{ operation: "acquire", result: "error" }, c.acquireFailures],
          [{ operation: "clean", result: "ok" }, c.cleans],
          [{ operation: "clean", result: "error" }, c.cleanFailures],
        ];
      },
    );
    counterFromSnapshot(
      registers,
      "sanpath_data_path_repairs_total",
      "Probes that found a served path not all there and asked for a repair.",
      [],
      async () => {
        const counters = await readCounters();
        return counters === undefined ? [] : [[{}, counters.repairsAsked]];
      },
    );
    new Gauge({
      name: "sanpath_coordinator_leader",
      help: "1 while this node is the elected coordinator.",
      registers,
      async collect() {
        this.set((await readCoordinator())?.leader === true ? 1 : 0);
      },
    });
    new Gauge({
      name: "sanpath_coordinator_epoch",
      help: "The highest coordinator epoch (the coordinator lock's LockIndex) this node has seen, its own while it leads.",
      registers,
      async collect() {
        this.reset();
        const [node, coordinator] = await Promise.all([readNode(), readCoordinator()]);
        const epoch = Math.max(node?.highestEpoch ?? 0, coordinator?.epoch ?? 0);
        if (node !== undefined || coordinator?.epoch !== undefined) this.set(epoch);
      },
    });
    new Gauge({
      name: "sanpath_cluster_paths_unserved",
      help: "Paths of running disks that no node serves, as of the coordinator's last placement pass (only the coordinator exports it, labelled with its name).",
      labelNames: ["coordinator"],
      registers,
      async collect() {
        this.reset();
        const unserved = (await readCoordinator())?.unservedPaths;
        if (unserved !== undefined) this.set({ coordinator: info.node }, unserved);
      },
    });

    new Gauge({
      name: "sanpath_cluster_nodes",
      help: "The cluster's nodes by state (online, offline, and cordoned or degraded among them), as the coordinator last read them (only the coordinator exports it).",
      labelNames: ["state", "coordinator"],
      registers,
      async collect() {
        this.reset();
        const nodes = (await readCoordinator())?.nodes;
        if (nodes === undefined) return;
        for (const state of CLUSTER_NODE_STATES) this.set({ state, coordinator: info.node }, nodes[state]);
      },
    });

    this.moves = new Counter({
      name: "sanpath_job_moves_total",
      help: "Path moves of reassignment jobs run by this node as coordinator, by result.",
      labelNames: ["result"],
      registers,
    });
    // Exported at 0 from the start: increase() cannot see the first move of a series that appears
    // with it (deploy/monitoring/alerts.yml: SanpathJobMovesFailing).
    for (const result of MOVE_RESULTS) this.moves.inc({ result }, 0);
    this.moveSeconds = new Histogram({
      name: "sanpath_job_move_duration_seconds",
      help: "How long path moves took, whole (phase total) and by step (clean, acquire, record writes, re-plan).",
      labelNames: ["phase"],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.placementSeconds = new Histogram({
      name: "sanpath_placement_duration_seconds",
      help: "From the coordinator seeing a path free to the path served again, by why it was free.",
      labelNames: ["cause"],
      buckets: FAILOVER_BUCKETS,
      registers,
    });
    this.failoverSeconds = new Histogram({
      name: "sanpath_failover_duration_seconds",
      help: "For each path of a lost node: from the coordinator seeing it free (the node's session ended) to served on another node.",
      buckets: FAILOVER_BUCKETS,
      registers,
    });
    this.grpcHandled = new Counter({
      name: "sanpath_grpc_server_handled_total",
      help: "gRPC calls this server ended, by method and status code.",
      labelNames: ["method", "code"],
      registers,
    });
    this.grpcSeconds = new Histogram({
      name: "sanpath_grpc_server_handling_seconds",
      help: "How long gRPC calls took on this server (streams: how long they stayed open), by method.",
      labelNames: ["method"],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.commandSeconds = new Histogram({
      name: "sanpath_command_duration_seconds",
      help: "External commands this node ran (ip, tgtadm, arping, ...), by command and result.",
      labelNames: ["command", "result"],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.consulSeconds = new Histogram({
      name: "sanpath_consul_request_duration_seconds",
      help: "Consul HTTP API requests, by operation and result (ok, rejected, error, cancelled).",
      labelNames: ["operation", "result"],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.reconcileSeconds = new Histogram({
      name: "sanpath_reconcile_pass_duration_seconds",
      help: "Reconcile passes of this node, whole, by how the local state was read (fresh: from the daemons; believed: the drivers' models).",
      labelNames: ["read"],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.eventsWrittenTotal = new Counter({
      name: "sanpath_events_written_total",
      help: "Events this node wrote to the event history in Consul.",
      registers,
    });
    this.eventsDroppedTotal = new Counter({
      name: "sanpath_events_dropped_total",
      help: "Events this node gave up without writing them: overflow (too many waiting while Consul did not answer) or stop (still queued when sanpathd stopped).",
      labelNames: ["reason"],
      registers,
    });
    for (const reason of EVENT_DROP_REASONS) this.eventsDroppedTotal.inc({ reason }, 0);
    const queueSource = (): number => this.eventQueueSource();
    new Gauge({
      name: "sanpath_events_queued",
      help: "Events waiting to be written to the event history.",
      registers,
      collect() {
        this.set(queueSource());
      },
    });
  }

  /** Where scrapes read the node agent's state and counters (once per scrape). */
  observeNode(source: Snapshot<NodeReport>): void {
    this.nodeSource = source;
  }

  /** Where scrapes read the coordinator's state (once per scrape). */
  observeCoordinator(source: Snapshot<CoordinatorSnapshot>): void {
    this.coordinatorSource = source;
  }

  moveEnded(result: MoveResult, phasesMs: Readonly<Record<string, number>>, totalMs: number): void {
    this.moves.inc({ result });
    this.moveSeconds.observe({ phase: "total" }, totalMs / 1000);
    for (const [phase, ms] of Object.entries(phasesMs)) {
      this.moveSeconds.observe({ phase: phase.replace(/Ms$/, "") }, ms / 1000);
    }
  }

  pathPlaced(cause: PlacementCause, freeForMs: number): void {
    this.placementSeconds.observe({ cause }, freeForMs / 1000);
    if (cause === "failover") this.failoverSeconds.observe(freeForMs / 1000);
  }

  eventsWritten(count: number): void {
    this.eventsWrittenTotal.inc(count);
  }

  eventsDropped(reason: EventDropReason, count: number): void {
    this.eventsDroppedTotal.inc({ reason }, count);
  }

  /** How many events wait to be written, read at each scrape. */
  observeEventQueue(read: () => number): void {
    this.eventQueueSource = read;
  }

  grpcCallEnded(method: string, code: string, seconds: number): void {
    this.grpcHandled.inc({ method, code });
    this.grpcSeconds.observe({ method }, seconds);
  }

  commandEnded(command: string, ok: boolean, seconds: number): void {
    this.commandSeconds.observe({ command, result: ok ? "ok" : "error" }, seconds);
  }

  consulRequestEnded(operation: string, result: string, seconds: number): void {
    this.consulSeconds.observe({ operation, result }, seconds);
  }

  reconcilePassEnded(fresh: boolean, seconds: number): void {
    this.reconcileSeconds.observe({ read: fresh ? "fresh" : "believed" }, seconds);
  }

  /** The exposition text of every metric, and its content type. */
  async render(): Promise<{ contentType: string; body: string }> {
    const [node, coordinator] = await Promise.all([this.nodeSource(), this.coordinatorSource()]);
    this.scrape = { node, coordinator };
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/**
 * A counter whose values live elsewhere and only grow (the node agent's counters): read at
 * scrape time. prom-client counters cannot be set, so each scrape adds what grew since the last.
 */
function counterFromSnapshot<Label extends string>(
  registers: Registry[],
  name: string,
  help: string,
  labelNames: readonly Label[],
  read: () => Promise<[Partial<Record<Label, string>>, number][]>,
): void {
  const seen = new Map<string, number>();
  new Counter<Label>({
    name,
    help,
    labelNames,
    registers,
    async collect() {
      for (const [labels, value] of await read()) {
        const key = JSON.stringify(labels);
        const before = seen.get(key) ?? 0;
        // A restarted agent (new process: never here) or a reset reads lower: count from there.
        const grew = value >= before ? value - before : value;
        if (grew > 0 || !seen.has(key)) this.inc(labels, grew);
        seen.set(key, value);
      }
    },
  });
}
