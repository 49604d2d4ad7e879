import type { Role } from "./roles.js";

/** Who may call a method, and whether it changes state (writes are audited). */
export interface MethodAccess {
  readonly allowed: readonly Role[];
  readonly write: boolean;
}

const READERS: readonly Role[] = ["viewer", "disk-admin", "path-admin", "admin"];
const DISK_WRITERS: readonly Role[] = ["disk-admin", "admin"];
const PATH_WRITERS: readonly Role[] = ["path-admin", "admin"];
const ADMINS: readonly Role[] = ["admin"];
const MEMBERS: readonly Role[] = ["node"];

const read = (allowed: readonly Role[] = READERS): MethodAccess => ({ allowed, write: false });
const write = (allowed: readonly Role[]): MethodAccess => ({ allowed, write: true });

/**
 * Every sanpath.v1 RPC by its full path. A method missing here is refused for everyone
 * (test/unit/security-method-access.test.ts fails when the contract has a method this table lacks).
 * grpc.health.v1 and server reflection are not sanpath.v1 services: they stay open (load
 * balancers, `grpcurl list`), they reveal only service names and serving status.
 */
export const METHOD_ACCESS: Readonly<Record<string, MethodAccess>> = {
  "/sanpath.v1.DiskService/AddDisk": write(DISK_WRITERS),
  "/sanpath.v1.DiskService/GetDisk": read(),
  "/sanpath.v1.DiskService/ListDisks": read(),
  "/sanpath.v1.DiskService/UpdateDisk": write(DISK_WRITERS),
  "/sanpath.v1.DiskService/StopDisk": write(DISK_WRITERS),
  "/sanpath.v1.DiskService/StartDisk": write(DISK_WRITERS),
  "/sanpath.v1.DiskService/DeleteDisk": write(DISK_WRITERS),
  // Also its dry run: it reads every disk record of a pool (no secrets leave the server).
  "/sanpath.v1.DiskService/ImportDisks": write(DISK_WRITERS),

  "/sanpath.v1.AssignmentService/ListPaths": read(),
  "/sanpath.v1.AssignmentService/ListNodes": read(),
  // A dry run: it changes nothing.
  "/sanpath.v1.AssignmentService/PlanReassignment": read(),
  "/sanpath.v1.AssignmentService/StartReassignment": write(PATH_WRITERS),
  "/sanpath.v1.AssignmentService/GetReassignment": read(),
  "/sanpath.v1.AssignmentService/ListReassignments": read(),
  "/sanpath.v1.AssignmentService/CancelReassignment": write(PATH_WRITERS),
  "/sanpath.v1.AssignmentService/WatchReassignment": read(),

  "/sanpath.v1.ClusterService/GetClusterInfo": read(),
  "/sanpath.v1.ClusterService/GetLeader": read(),
  "/sanpath.v1.ClusterService/InitCluster": write(ADMINS),
  "/sanpath.v1.ClusterService/GetClusterSettings": read(),
  "/sanpath.v1.ClusterService/CordonNode": write(PATH_WRITERS),
  "/sanpath.v1.ClusterService/UncordonNode": write(PATH_WRITERS),
  "/sanpath.v1.ClusterService/DrainNode": write(PATH_WRITERS),

  "/sanpath.v1.EventService/ListEvents": read(),
  "/sanpath.v1.EventService/WatchEvents": read(),

  // Fenced by the coordinator epoch; only cluster members may move paths on a node.
  "/sanpath.v1.NodeService/AcquirePath": write(MEMBERS),
  "/sanpath.v1.NodeService/CleanPath": write(MEMBERS),
  "/sanpath.v1.NodeService/AcquirePaths": write(MEMBERS),
  "/sanpath.v1.NodeService/CleanPaths": write(MEMBERS),
  // Read-only node state: members, and operators (node.proto: "and by operators for Status").
  "/sanpath.v1.NodeService/Status": read([...MEMBERS, ...READERS]),
  // Peer leases, every few hundred ms between members: not audited (it changes no cluster state).
  "/sanpath.v1.NodeService/RenewLease": read(MEMBERS),
};

/** The access rule of `method`, undefined when the table has none (the call is then refused). */
export function accessOf(method: string): MethodAccess | undefined {
  return Object.hasOwn(METHOD_ACCESS, method) ? METHOD_ACCESS[method] : undefined;
}
