import { invalidField } from "../errors/sanpath-error.js";
import type { LeaseStatus } from "../node/peer-lease-keeper.js";
import {
  DriftKind,
  type DataPathState,
  type LeaseState,
  type PathOutcome,
  type ServedPath,
  type StatusResponse,
} from "../gen/sanpath/v1/node.js";
import type {
  DataPathStatus,
  NodeAgent,
  NodeStatus,
  PathBatchResult,
  ServedPathView,
} from "../node/node-agent.js";
import { REASON_METADATA_KEY, toGrpcFailure } from "./grpc-status.js";
import { renewLeaseHandler } from "./renew-lease-handler.js";
import type { DriftKind as DomainDriftKind } from "../node/reconcile-plan.js";
import type { ServiceHandlers } from "./service-registry.js";

const DRIFT_KINDS: Readonly<Record<DomainDriftKind, DriftKind>> = {
  "locked-not-configured": DriftKind.DRIFT_KIND_LOCKED_NOT_CONFIGURED,
  "configured-not-locked": DriftKind.DRIFT_KIND_CONFIGURED_NOT_LOCKED,
  "served-while-stopped": DriftKind.DRIFT_KIND_SERVED_WHILE_STOPPED,
  partial: DriftKind.DRIFT_KIND_PARTIAL,
};

export function toProtoServedPath(path: ServedPathView): ServedPath {
  return {
    diskId: path.diskId,
    index: path.index,
    ip: path.ip,
    prefixLength: path.prefixLength,
    interface: path.device,
    iqn: path.iqn,
    lockHeld: path.lockHeld,
    portalEnabled: path.portalEnabled,
    ipPresent: path.ipPresent,
  };
}

export function toProtoStatus(status: NodeStatus): StatusResponse {
  const { session } = status;
  return {
    node: status.node,
    address: status.address,
    version: status.version,
    session: {
      id: session.id ?? "",
      healthy: session.healthy,
      lastRenewTime: session.lastConfirmedAt,
      fenced: session.fenced,
      ttlSeconds: session.ttlSeconds,
      lockDelaySeconds: session.lockDelaySeconds,
      fenceDeadlineMs: session.fenceDeadlineMs,
    },
    paths: status.paths.map(toProtoServedPath),
    drift: status.drift.map((item) => ({
      diskId: item.diskId,
      index: item.index,
      ip: item.ip,
      kind: DRIFT_KINDS[item.kind],
      detail: item.detail,
    })),
    counters: { ...status.counters },
    highestEpoch: status.highestEpoch,
    targetDriver: status.targetDriver,
    imageStore: status.imageStore,
    dataPath: toProtoDataPath(status.dataPath),
    lease: status.lease === undefined ? undefined : toProtoLease(status.lease),
  };
}

function toProtoLease(lease: LeaseStatus): LeaseState {
  return {
    holds: lease.holds,
    validForMs: lease.validForMs,
    clusterSize: lease.clusterSize ?? 0,
    peers: lease.peers.map((peer) => ({
      node: peer.node,
      grantedAgoMs: peer.grantedAgoMs,
      lastError: peer.lastError ?? "",
    })),
    renewals: lease.renewals,
    leaseMs: lease.leaseMs,
    heartbeatMs: lease.heartbeatMs,
  };
}

function toProtoDataPath(dataPath: DataPathStatus): DataPathState {
  return {
    healthy: dataPath.healthy,
    reason: dataPath.reason,
    answering: dataPath.answering,
    driftedIps: dataPath.drifted.map((drift) => drift.ip),
    repairsAsked: dataPath.repairsAsked,
    lastError: dataPath.lastError ?? "",
    checkedTime: dataPath.checkedAt,
    degraded: dataPath.degraded !== undefined,
    degradedSince: dataPath.degraded?.since,
    degradedReason: dataPath.degraded?.reason ?? "",
    probeIntervalMs: dataPath.probeIntervalMs,
  };
}

/** Each path's outcome with the status its single-path call would have had (grpc-status.ts). */
function toProtoOutcomes(results: readonly PathBatchResult[]): PathOutcome[] {
  return results.map((result) => {
    if (result.error === undefined) {
      return { diskId: result.diskId, index: result.index, code: 0, reason: "", message: "" };
    }
    const failure = toGrpcFailure(result.error);
    const reason = failure.metadata.get(REASON_METADATA_KEY)[0];
    return {
      diskId: result.diskId,
      index: result.index,
      code: failure.code,
      reason: typeof reason === "string" ? reason : "",
      message: failure.details,
    };
  });
}

/** NodeService over gRPC: proto ↔ domain only; failures map through grpc-status.ts. */
export function nodeHandlers(agent: NodeAgent): ServiceHandlers<"node"> {
  return {
    acquirePath: async (request, { signal }) => {
      const result = await agent.acquirePath(
        { epoch: request.epoch, diskId: request.diskId, index: request.index, jobId: request.jobId },
        signal,
      );
      return { path: toProtoServedPath(result.path), alreadyServed: result.alreadyServed };
    },
    cleanPath: async (request, { signal }) => {
      let target: Parameters<NodeAgent["cleanPath"]>[0]["target"];
      if (request.ip !== undefined && request.ip !== "") target = { kind: "ip", ip: request.ip };
      else if (request.path !== undefined) {
        target = { kind: "path", diskId: request.path.diskId, index: request.path.index };
      } else throw invalidField("target", "set ip or path (disk_id and index)");
      return agent.cleanPath({ epoch: request.epoch, target, jobId: request.jobId }, signal);
    },
    acquirePaths: async (request, { signal }) => ({
      outcomes: toProtoOutcomes(
        await agent.acquirePaths(
          { epoch: request.epoch, paths: request.paths, jobId: request.jobId },
          signal,
        ),
      ),
    }),
    cleanPaths: async (request, { signal }) => ({
      outcomes: toProtoOutcomes(
        await agent.cleanPaths({ epoch: request.epoch, paths: request.paths, jobId: request.jobId }, signal),
      ),
    }),
    status: async (request, { signal }) => toProtoStatus(await agent.status(request.epoch, signal)),
    renewLease: renewLeaseHandler((renewal) => agent.renewLease(renewal)),
  };
}
