import type { KvStore } from "../kv/kv-store.js";
import type { LiveSessions } from "../kv/session-store.js";
import type { CallOptions } from "../util/call-options.js";
import type { ConsulKeys } from "../consul/keys.js";
import {
  subnetContaining,
  validateClusterSettings,
  type ClusterSettings,
} from "../disks/cluster-settings.js";
import type { ClusterSettingsInput } from "../disks/cluster-settings.js";
import { parseDiskAllocation } from "../disks/disk-allocation.js";
import { groupDiskKeys, pathHolder } from "../disks/disk-reader.js";
import { tryParseIpv4 } from "../disks/ipv4.js";
import { errorMessage } from "../errors/sanpath-error.js";
import type { Logger } from "../log/logger.js";
import { parseNodeRecord, type NodeRecord } from "../node/node-record.js";
import type { NodeInfo, PathAssignment, SubnetNumber } from "./assignment-model.js";

/** A node as the API and the coordinator see it. */
export interface NodeState extends NodeInfo {
  readonly subnets: readonly SubnetNumber[];
  /** host:port of its sanpathd; "" for a node known only as the holder of a path lock. */
  readonly address: string;
  readonly version: string;
  /** Paths of running disks it serves. */
  readonly pathCount: number;
  readonly degraded: boolean;
  /** Why the node is degraded ("" when it is not). */
  readonly degradedReason: string;
}

/** Names and addresses of a disk's paths, for a disk without an allocation record (made by PetaSAN). */
export type DiskPathsFallback = (
  diskId: string,
  options: CallOptions,
) => Promise<{ readonly name: string; readonly ips: readonly string[] } | undefined>;

/** What the cluster serves now, read from Consul in one go. */
export interface ClusterState {
  /**
   * X-Consul-Index of `<root>/Disks/`: it moves with every lock taken or given up, every disk
   * added, stopped, started or deleted. A plan made at one index is stale at another.
   */
  readonly stateIndex: number;
  /** Every path of every running disk, in disk id then path index order. */
  readonly paths: readonly PathAssignment[];
  /** Nodes with a record, then holders of path locks that have none; by name. */
  readonly nodes: readonly NodeState[];
  readonly diskCount: number;
  /** Paths of all disks, running or stopped. */
  readonly pathCount: number;
}

export interface ClusterStateReaderOptions {
  kv: KvStore;
  sessions: LiveSessions;
  keys: ConsulKeys;
  logger: Logger;
  fallback?: DiskPathsFallback;
}

/**
 * Reads paths and nodes as PetaSAN's get_assignments_stats did: every path of running disks
 * (stopped disks, Flags 1, are left out) with its disk name, IP, subnet and serving node (the
 * holder of its lock), and the nodes with whether they are online (their record names a session
 * Consul still has), cordoned, and their iSCSI subnets (the interfaces in their record).
 */
export class ClusterStateReader {
  constructor(private readonly options: ClusterStateReaderOptions) {}

  async read(options: CallOptions = {}): Promise<ClusterState> {
    const { kv, sessions: liveSessions, keys, logger } = this.options;
    const [disks, records, settingsEntry, nodeEntries, sessions] = await Promise.all([
      kv.listIndexed(keys.disks(), options),
      kv.list(keys.allocatedDiskIds(), options),
      kv.get(keys.settings(), options),
      kv.list(keys.nodes(), options),
      liveSessions.liveSessions(options),
    ]);
    const settings = parseSettings(settingsEntry?.value, logger);
    const allocations = new Map<string, { name: string; ips: readonly string[] }>();
    for (const entry of records) {
      try {
        const allocation = parseDiskAllocation(entry.value, entry.key);
        allocations.set(allocation.id, allocation);
      } catch (error) {
        logger.warn({ key: entry.key, err: errorMessage(error) }, "unreadable disk allocation record");
      }
    }

    const grouped = groupDiskKeys(keys, disks.entries);
    const paths: PathAssignment[] = [];
    let pathCount = 0;
    for (const id of [...grouped.keys()].sort()) {
      const diskKeys = grouped.get(id);
      if (diskKeys === undefined) continue;
      pathCount += diskKeys.paths.size;
      if (diskKeys.disk.flags === 1) continue;
      const described = allocations.get(id) ?? (await this.options.fallback?.(id, options));
      if (described === undefined) {
        logger.debug({ diskId: id }, "disk without allocation record or metadata: its paths are not listed");
        continue;
      }
      for (const index of [...diskKeys.paths.keys()].sort((a, b) => a - b)) {
        const ip = described.ips[index - 1];
        if (ip === undefined) continue;
        const entry = diskKeys.paths.get(index);
        const node = pathHolder(entry) ?? "";
        paths.push({
          diskId: id,
          diskName: described.name,
          index,
          ip,
          subnet: subnetOf(settings, ip),
          node,
          ...(node === "" && entry !== undefined && entry.value !== "" ? { lastHolder: entry.value } : {}),
          ...(entry?.session === undefined
            ? {}
            : { lock: { session: entry.session, modifyIndex: entry.modifyIndex } }),
        });
      }
    }

    const served = new Map<string, number>();
    for (const path of paths) if (path.node !== "") served.set(path.node, (served.get(path.node) ?? 0) + 1);
    const nodes = new Map<string, NodeState>();
    for (const entry of nodeEntries) {
      const name = keys.parseNode(entry.key);
      if (name === undefined) continue;
      try {
        const record = parseNodeRecord(entry.value, entry.key);
        const subnets = subnetsOf(record.interfaces);
        nodes.set(name, {
          name,
          address: record.address,
          online: record.session !== undefined && sessions.has(record.session),
          cordoned: record.cordoned,
          degraded: record.degraded !== undefined,
          degradedReason: record.degraded?.reason ?? "",
          subnets,
          version: record.version,
          pathCount: served.get(name) ?? 0,
        });
      } catch (error) {
        logger.warn({ key: entry.key, err: errorMessage(error) }, "unreadable node record");
      }
    }
    for (const [holder, count] of served) {
      if (nodes.has(holder)) continue;
      // Holds a live lock but has no record (e.g. a PetaSAN node): shown, never planned for.
      nodes.set(holder, {
        name: holder,
        address: "",
        online: false,
        cordoned: false,
        degraded: false,
        degradedReason: "",
        subnets: [],
        version: "",
        pathCount: count,
      });
    }
    return {
      stateIndex: disks.index,
      paths,
      nodes: [...nodes.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
      diskCount: grouped.size,
      pathCount,
    };
  }
}

/** What the coordinator needs to call one node, and to know whether it may take paths (isEligible). */
export interface NodeRecordView extends NodeInfo {
  readonly address: string;
  /** Set from the record (NodeInfo has it optional): the mover must not miss a degraded node. */
  readonly degraded: boolean;
  readonly subnets: readonly SubnetNumber[];
}

/** What the coordinator needs of a parsed node record, online when Consul holds its session. */
export function nodeRecordView(
  name: string,
  record: NodeRecord,
  liveSessions: ReadonlySet<string>,
): NodeRecordView {
  return {
    name,
    address: record.address,
    cordoned: record.cordoned,
    degraded: record.degraded !== undefined,
    subnets: subnetsOf(record.interfaces),
    online: record.session !== undefined && liveSessions.has(record.session),
  };
}

function subnetsOf(interfaces: {
  subnet1?: string | undefined;
  subnet2?: string | undefined;
}): SubnetNumber[] {
  const subnets: SubnetNumber[] = [];
  if (interfaces.subnet1 !== undefined) subnets.push(1);
  if (interfaces.subnet2 !== undefined) subnets.push(2);
  return subnets;
}

function parseSettings(value: string | undefined, logger: Logger): ClusterSettings | undefined {
  if (value === undefined) return undefined;
  try {
    return validateClusterSettings(JSON.parse(value) as ClusterSettingsInput, "settings");
  } catch (error) {
    logger.warn({ err: errorMessage(error) }, "unreadable cluster settings: every path counts as subnet 1");
    return undefined;
  }
}

/** The iSCSI subnet whose network holds `ip`; 1 when no settings say otherwise. */
function subnetOf(settings: ClusterSettings | undefined, ip: string): SubnetNumber {
  const address = tryParseIpv4(ip);
  if (settings === undefined || address === undefined) return 1;
  return subnetContaining(settings, address)?.number ?? 1;
}
