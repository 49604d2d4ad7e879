/**
 * Who may do what. Operators get one of the four operator roles; sanpathd nodes are cluster
 * members (role "node": a node certificate under mTLS, or a cluster node token without TLS).
 *   viewer      every read
 *   disk-admin  reads + DiskService writes
 *   path-admin  reads + reassignment jobs, cordon, uncordon, drain
 *   admin       every operator call (reads, disk and path writes, InitCluster)
 *   node        NodeService (AcquirePath(s), CleanPath(s), Status, RenewLease) — nothing else
 */
export const OPERATOR_ROLES = ["viewer", "disk-admin", "path-admin", "admin"] as const;
export type OperatorRole = (typeof OPERATOR_ROLES)[number];

export const NODE_ROLE = "node";
export type Role = OperatorRole | typeof NODE_ROLE;

export const ROLES: readonly Role[] = [...OPERATOR_ROLES, NODE_ROLE];

export function isRole(value: unknown): value is Role {
  return typeof value === "string" && (ROLES as readonly string[]).includes(value);
}
