import type { ReassignmentService } from "../assignment/reassignment-service.js";
import type { Leader } from "../coordinator/leader-record.js";
import type { ClusterSettingsStore } from "../disks/cluster-settings-store.js";
import { errorMessage, SanpathError } from "../errors/sanpath-error.js";
import type { EventLog } from "../events/event-log.js";
import { callerName, toNodeSummary, toProtoJob } from "./assignment-handlers.js";
import { toProtoSettings } from "./cluster-settings-handlers.js";
import type { ServiceHandlers } from "./service-registry.js";

export interface ClusterHandlerDeps {
  service: ReassignmentService;
  settings: ClusterSettingsStore;
  /** The elected coordinator now, read from Consul; undefined when none. */
  leader: (signal: AbortSignal) => Promise<Leader | undefined>;
  consulRoot: string;
  /** Cordons, uncordons and drains are recorded here, with the caller (default: nowhere). */
  events?: EventLog | undefined;
}

function requireNode(node: string): string {
  if (node === "") {
    throw new SanpathError("invalid_argument", "node: name a node", {
      reason: "DATA_MISSING",
      field: "node",
    });
  }
  return node;
}

/**
 * ClusterService's coordinator and node maintenance methods; InitCluster and GetClusterSettings
 * are the disk component's (cluster-settings-handlers.ts).
 */
export function clusterHandlers(
  deps: ClusterHandlerDeps,
): Pick<
  ServiceHandlers<"cluster">,
  "getClusterInfo" | "getLeader" | "cordonNode" | "uncordonNode" | "drainNode"
> {
  const { service } = deps;
  return {
    getClusterInfo: async (_request, { signal }) => {
      const [state, leader, stored] = await Promise.all([
        service.readState({ signal }),
        deps.leader(signal),
        deps.settings.read({ signal }),
      ]);
      return {
        leader:
          leader === undefined
            ? undefined
            : { node: leader.node, address: leader.address, epoch: leader.epoch },
        nodes: state.nodes.map((node) => toNodeSummary(node, leader?.node ?? "")),
        settings: stored === undefined ? undefined : toProtoSettings(stored.settings),
        consulRoot: deps.consulRoot,
        diskCount: state.diskCount,
        pathCount: state.pathCount,
      };
    },
    getLeader: async (_request, { signal }) => {
      const leader = await deps.leader(signal);
      if (leader === undefined) {
        throw new SanpathError("unavailable", "no coordinator is elected right now", { reason: "NO_LEADER" });
      }
      return { leader: { node: leader.node, address: leader.address, epoch: leader.epoch } };
    },
    cordonNode: async (request, context) => {
      const { signal } = context;
      const [node, leader] = await Promise.all([
        service.setCordoned(requireNode(request.node), true, { signal }),
        deps.leader(signal),
      ]);
      deps.events?.record({ kind: "cordon", node: node.name, actor: callerName(context) });
      return { node: toNodeSummary(node, leader?.node ?? "") };
    },
    uncordonNode: async (request, context) => {
      const { signal } = context;
      const [node, leader] = await Promise.all([
        service.setCordoned(requireNode(request.node), false, { signal }),
        deps.leader(signal),
      ]);
      deps.events?.record({ kind: "uncordon", node: node.name, actor: callerName(context) });
      return { node: toNodeSummary(node, leader?.node ?? "") };
    },
    drainNode: async (request, context) => {
      const name = requireNode(request.node);
      const actor = callerName(context);
      const drain = { cordoned: false };
      let job;
      try {
        job = await service.drain(name, request.parallelism, actor, {
          signal: context.signal,
          onCordoned: () => (drain.cordoned = true),
        });
      } catch (error) {
        // The node is cordoned although no drain job exists: the history says so.
        if (drain.cordoned) {
          deps.events?.record({
            kind: "cordon",
            node: name,
            actor,
            reason: `the drain failed after cordoning the node, which stays cordoned: ${errorMessage(error)}`,
          });
        }
        throw error;
      }
      deps.events?.record({
        kind: "drain",
        node: name,
        actor,
        jobId: job.header.id,
        reason: `${job.moves.length} paths to move off the node (it is cordoned)`,
      });
      return { job: toProtoJob(job) };
    },
  };
}
