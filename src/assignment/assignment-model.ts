/** The iSCSI subnet a path takes its address from, and that a node may have an interface on. */
export type SubnetNumber = 1 | 2;

/** One path of a running disk and the node serving it. */
export interface PathAssignment {
  readonly diskId: string;
  readonly diskName: string;
  /** 1-based path index within the disk. */
  readonly index: number;
  /** Unique across the cluster; identifies the path in requests and jobs. */
  readonly ip: string;
  readonly subnet: SubnetNumber;
  /** The serving node; "" when nobody serves the path. */
  readonly node: string;
  /**
   * Nobody serves it: the node that held it last (a released lock keeps its holder's name), if
   * any. Tells a path freed by a node's loss (placement's failover metrics) from a new one.
   */
  readonly lastHolder?: string;
  /**
   * The path key's lock as read (held paths only): the session holding it and the key's
   * ModifyIndex, so that a lock of a node whose peer lease provably ended is released only if
   * nothing changed since (kv/locks.ts releaseLockIfUnchanged).
   */
  readonly lock?: { readonly session: string; readonly modifyIndex: number };
}

/** A storage node as the planners see it. */
export interface NodeInfo {
  readonly name: string;
  /** Holds a live Consul session. */
  readonly online: boolean;
  /** Takes no new paths (keeps the ones it has until drained). */
  readonly cordoned: boolean;
  /** Its data path failed: it handed its paths off and takes none until it recovers (absent = no). */
  readonly degraded?: boolean;
  /** iSCSI subnets the node has an interface on. */
  readonly subnets: ReadonlySet<SubnetNumber> | readonly SubnetNumber[];
}

export interface PlannedMove {
  readonly diskId: string;
  readonly diskName: string;
  readonly index: number;
  readonly ip: string;
  /** "" when the path is not served now (the job only acquires it on the target). */
  readonly sourceNode: string;
  readonly targetNode: string;
}

export interface NodeCount {
  readonly node: string;
  readonly paths: number;
}

/**
 * Moves in the order the planner decided them, and the paths served per node before and after
 * them: every node given to the planner plus any node a path names, sorted by name.
 */
export interface Plan {
  readonly moves: readonly PlannedMove[];
  readonly before: readonly NodeCount[];
  readonly after: readonly NodeCount[];
}

/** A free path no node could be chosen for, with the rule that stopped it. */
export interface UnplacedPath {
  readonly diskId: string;
  readonly diskName: string;
  readonly index: number;
  readonly ip: string;
  readonly subnet: SubnetNumber;
  readonly reason: string;
}

/** Eligible nodes are the only ones that receive paths. */
export function isEligible(node: NodeInfo): boolean {
  return node.online && !node.cordoned && node.degraded !== true;
}

export function nodeHasSubnet(node: NodeInfo, subnet: SubnetNumber): boolean {
  const subnets = node.subnets;
  return "has" in subnets ? subnets.has(subnet) : subnets.includes(subnet);
}

/** The paths with the plan's moves applied; paths not moved are returned as they are. */
export function applyMoves(
  paths: readonly PathAssignment[],
  moves: readonly PlannedMove[],
): PathAssignment[] {
  const targetByIp = new Map(moves.map((move) => [move.ip, move.targetNode]));
  return paths.map((path) => {
    const target = targetByIp.get(path.ip);
    return target === undefined ? path : { ...path, node: target };
  });
}
