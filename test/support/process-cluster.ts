/**
 * A sanpath cluster inside the test process, on the fakes of src/testing: one in-memory Consul, a
 * file image store in a temp dir, a DiskService, and node agents each with an in-memory target
 * daemon and network, talking to the coordinator's code through InProcessNodeRpc. No root, Consul,
 * Ceph or tgtd; every piece of sanpath above the ports is the production code.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { KvJobPathMarker } from "../../src/assignment/kv-job-path-marker.js";
import { ConsulKeys } from "../../src/consul/keys.js";
import { diskImagesOver } from "../../src/disks/disk-images.js";
import type { AddDiskInput } from "../../src/disks/disk-request.js";
import { DiskService } from "../../src/disks/disk-service.js";
import { DEV_CLUSTER_SETTINGS } from "../../src/server/disk-component.js";
import { createLogger, type Logger } from "../../src/log/logger.js";
import { DiskSource } from "../../src/node/disk-source.js";
import { KvPathLocks } from "../../src/node/kv-path-locks.js";
import { NodeAgent } from "../../src/node/node-agent.js";
import { PeerLeaseKeeper, type LeaseTiming } from "../../src/node/peer-lease-keeper.js";
import type { SessionSettings } from "../../src/node/node-session.js";
import { PathJournal } from "../../src/node/path-journal.js";
import { PathSetup } from "../../src/node/path-setup.js";
import { openFileImageStore, type FileImageStore } from "../../src/storage/file-image-store.js";
import { inMemoryCluster, type InMemoryCluster } from "../../src/testing/in-memory-cluster.js";
import { InMemoryNetworkDriver } from "../../src/testing/in-memory-network-driver.js";
import { InMemoryAddressWatch } from "../../src/testing/in-memory-address-watch.js";
import { InMemorySessionHandover } from "../../src/testing/in-memory-session-handover.js";
import { InMemorySessionMemory } from "../../src/testing/in-memory-session-memory.js";
import { InMemoryTargetDriver } from "../../src/testing/in-memory-target-driver.js";
import { InProcessNodeRpc } from "../../src/testing/in-process-node-rpc.js";
import { until } from "./until.js";
import { SanpathError } from "../../src/errors/sanpath-error.js";

/** Short enough for tests, within the rules the config enforces (fence deadline < lock-delay). */
export const PROCESS_SESSION: SessionSettings = { ttlSeconds: 10, lockDelaySeconds: 3, fenceDeadlineMs: 900 };

export interface ProcessNode {
  readonly name: string;
  readonly address: string;
  readonly agent: NodeAgent;
  readonly target: InMemoryTargetDriver;
  readonly network: InMemoryNetworkDriver;
  readonly journal: PathJournal;
  readonly memory: InMemorySessionMemory;
  readonly handover: InMemorySessionHandover;
  readonly lease: PeerLeaseKeeper | undefined;
}

export interface ProcessNodeOptions {
  session?: SessionSettings;
  /** Peer leases with these settings (renewing with every other node of the cluster); default off. */
  lease?: LeaseTiming;
  /** The node's iSCSI interfaces (default eth1 and eth2). */
  interfaces?: { subnet1?: string; subnet2?: string };
  /** Reuse a journal, session memory, hand-over and drivers (a restarted daemon on the same node). */
  journal?: PathJournal;
  memory?: InMemorySessionMemory;
  handover?: InMemorySessionHandover;
  target?: InMemoryTargetDriver;
  network?: InMemoryNetworkDriver;
  /** The data-path probe's interval (default 0: off, as reconcile alone would leave it). */
  dataPathProbeMs?: number;
  /** Trouble this long → degraded (default the agent's, 3 s). */
  dataPathUnhealthyAfterMs?: number;
  /** Healthy this long → no longer degraded (default the agent's, 10 s). */
  dataPathRecoverAfterMs?: number;
  /** Wake the data-path probe on address changes (the in-memory kernel's), as production does. */
  addressWatch?: boolean;
  /** What the health service would be told of the data path. */
  onDataPathHealthChange?: (healthy: boolean, reason: string) => void;
  /** What the metrics would be told of each reconcile pass. */
  onReconcilePass?: (fresh: boolean, seconds: number) => void;
  /** What the health service would be told of whether the node may take paths. */
  onServingChange?: (serving: boolean) => void;
  /** Wait until the node may serve (default true). */
  waitUntilServing?: boolean;
}

export class ProcessCluster {
  readonly nodes = new Map<string, ProcessNode>();
  private readonly leaseCut = new Set<string>();
  private readonly consulCut = new Set<string>();
  readonly rpc: InProcessNodeRpc;
  readonly logger: Logger = createLogger({ level: (process.env.PC_LOG as "info" | undefined) ?? "silent" });

  private constructor(
    readonly dir: string,
    readonly store: InMemoryCluster,
    readonly keys: ConsulKeys,
    readonly images: FileImageStore,
    readonly disks: DiskService,
    rpcDeadlineMs: number,
  ) {
    this.rpc = new InProcessNodeRpc(rpcDeadlineMs);
  }

  /** `rpcDeadlineMs`: the deadline of every call through `rpc` (default 5 s). */
  static async start(root = "ProcessCluster", { rpcDeadlineMs = 5000 } = {}): Promise<ProcessCluster> {
    const dir = await mkdtemp(join(tmpdir(), "sanpath-process-cluster-"));
    const store = inMemoryCluster();
    const keys = new ConsulKeys(root);
    const images = await openFileImageStore(join(dir, "images"));
    const disks = new DiskService({
      kv: store.kv,
      keys,
      images: diskImagesOver(images),
      nodeName: "admin",
      logger: createLogger({ level: "silent" }),
    });
    await disks.settings.init(DEV_CLUSTER_SETTINGS);
    return new ProcessCluster(dir, store, keys, images, disks, rpcDeadlineMs);
  }

  get kv(): InMemoryCluster["kv"] {
    return this.store.kv;
  }

  /** Injected outages of the in-memory Consul. */
  get kvFaults(): InMemoryCluster["consul"]["faults"] {
    return this.store.consul.faults;
  }

  /** Starts a node agent and waits until it may serve (its session confirmed). */
  async addNode(name: string, options: ProcessNodeOptions = {}): Promise<ProcessNode> {
    const kv = this.cuttable(name, this.store.kv);
    const sessions = this.cuttable(name, this.store.sessions);
    const address = `${name}.test:7410`;
    const target = options.target ?? new InMemoryTargetDriver();
    const network = options.network ?? new InMemoryNetworkDriver({ interfaces: ["eth1", "eth2"] });
    const journal = options.journal ?? (await PathJournal.open(undefined));
    const memory = options.memory ?? new InMemorySessionMemory();
    const handover = options.handover ?? new InMemorySessionHandover();
    const lease =
      options.lease === undefined
        ? undefined
        : new PeerLeaseKeeper({
            self: name,
            timing: options.lease,
            rpc: {
              renewLease: (peer, renewal, signal, deadlineMs) =>
                this.leaseCut.has(name) || this.leaseCut.has(peer.name)
                  ? Promise.reject(
                      new SanpathError("unavailable", `RenewLease on ${peer.name}: cut off (test)`),
                    )
                  : this.rpc.renewLease(peer, renewal, signal, deadlineMs),
            },
            members: () => ({
              peers: [...this.nodes.values()]
                .filter((other) => other.name !== name)
                .map((other) => ({ name: other.name, address: other.address })),
              size: new Set([name, ...this.nodes.keys()]).size,
            }),
            logger: this.logger,
          });
    const agent = new NodeAgent({
      lease,
      nodeName: name,
      advertiseAddress: address,
      version: "test",
      kv,
      sessions,
      locks: new KvPathLocks(kv, this.keys),
      jobs: new KvJobPathMarker(kv, this.keys, name, this.logger),
      keys: this.keys,
      disks: new DiskSource({
        kv,
        keys: this.keys,
        openImageStore: () => Promise.resolve(this.images),
        defaultPool: "rbd",
        cephConf: "/etc/ceph/ceph.conf",
        cephUser: "admin",
      }),
      setup: new PathSetup(target, network),
      journal,
      session: options.session ?? PROCESS_SESSION,
      interfaces: options.interfaces ?? { subnet1: "eth1", subnet2: "eth2" },
      imageStoreKind: "file",
      sessionMemory: memory,
      handover,
      logger: this.logger,
      reconcilePeriodMs: 60_000,
      dataPathProbeMs: options.dataPathProbeMs ?? 0,
      ...(options.addressWatch === true ? { addressWatch: new InMemoryAddressWatch(network) } : {}),
      ...(options.dataPathUnhealthyAfterMs === undefined
        ? {}
        : { dataPathUnhealthyAfterMs: options.dataPathUnhealthyAfterMs }),
      ...(options.dataPathRecoverAfterMs === undefined
        ? {}
        : { dataPathRecoverAfterMs: options.dataPathRecoverAfterMs }),
      ...(options.onDataPathHealthChange === undefined
        ? {}
        : { onDataPathHealthChange: options.onDataPathHealthChange }),
      ...(options.onServingChange === undefined ? {} : { onServingChange: options.onServingChange }),
      ...(options.onReconcilePass === undefined ? {} : { onReconcilePass: options.onReconcilePass }),
    });
    const node = { name, address, agent, target, network, journal, memory, handover, lease };
    this.nodes.set(name, node);
    this.rpc.serve(address, agent);
    lease?.start();
    agent.start();
    if (options.waitUntilServing === false) return node;
    await until(`node ${name} serving`, async () =>
      (await agent.status(0, AbortSignal.timeout(1000))).session.healthy ? true : undefined,
    );
    return node;
  }

  /**
   * The node's Consul calls (KV and sessions) fail from now on: with cutLeases, a killed sanpathd
   * whose session lives until its TTL, whose locks only the coordinator can free meanwhile.
   */
  cutConsul(name: string): void {
    this.consulCut.add(name);
  }

  /** A Consul store as node `name` sees it (cutConsul). */
  private cuttable<T extends object>(name: string, store: T): T {
    const cut = this.consulCut;
    return new Proxy(store, {
      get(target, property, receiver): unknown {
        const value: unknown = Reflect.get(target, property, receiver);
        if (typeof value !== "function") return value;
        return (...args: unknown[]): unknown =>
          cut.has(name)
            ? Promise.reject(new SanpathError("unavailable", `Consul from ${name}: cut off (test)`))
            : (value as (...callArgs: unknown[]) => unknown).apply(target, args);
      },
    });
  }

  /** The node's peer-lease renewals, both ways, fail from now on (a node cut off from its peers). */
  cutLeases(name: string): void {
    this.leaseCut.add(name);
  }

  healLeases(name: string): void {
    this.leaseCut.delete(name);
  }

  node(name: string): ProcessNode {
    const node = this.nodes.get(name);
    if (node === undefined) throw new Error(`no node ${name} in this cluster`);
    return node;
  }

  /** Stops a node's agent (a graceful stop: paths torn down, locks released, session destroyed). */
  async stopNode(name: string): Promise<void> {
    const node = this.node(name);
    this.rpc.unserve(node.address);
    this.nodes.delete(name);
    await node.agent.stop();
  }

  /**
   * Restarts a node's daemon as `systemctl restart` does: the old one hands its session over
   * (paths left up), a new one on the same node (journal, memory, hand-over, target daemon and
   * network) starts. Resolves with whether the old one handed over, once the new one serves.
   */
  async restartNode(
    name: string,
    { startDelayMs = 0, ...options }: ProcessNodeOptions & { startDelayMs?: number } = {},
  ): Promise<boolean> {
    const node = this.node(name);
    this.rpc.unserve(node.address);
    this.nodes.delete(name);
    const handedOver = await node.agent.handOver();
    const { journal, memory, handover, target, network } = node;
    // The new daemon's start-up time (Node, modules, config) before it claims the hand-over.
    if (startDelayMs > 0) await new Promise((resolve) => setTimeout(resolve, startDelayMs));
    await this.addNode(name, { journal, memory, handover, target, network, ...options });
    return handedOver;
  }

  async addDisk(input: Partial<AddDiskInput> = {}): Promise<string> {
    const disk = await this.disks.addDisk({
      name: "Disk",
      sizeGib: 1,
      pathCount: 2,
      subnet: 3,
      manualIps: [],
      pool: "",
      chap: undefined,
      ...input,
    });
    return disk.id;
  }

  /** The node name a path's lock names, and the session holding it. */
  async lockOf(diskId: string, index: number): Promise<{ session?: string; holder: string } | undefined> {
    const entry = await this.kv.get(this.keys.diskPath(diskId, index));
    if (entry === undefined) return undefined;
    return { holder: entry.value, ...(entry.session === undefined ? {} : { session: entry.session }) };
  }

  async close(): Promise<void> {
    for (const name of [...this.nodes.keys()]) await this.stopNode(name);
    await this.disks.close();
    await this.images.close();
    this.store.consul.close();
    await rm(this.dir, { recursive: true, force: true });
  }
}
