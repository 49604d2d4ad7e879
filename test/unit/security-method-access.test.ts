import { describe, expect, it } from "vitest";
import { SANPATH_SERVICES } from "../../src/api/service-registry.js";
import { Authorizer } from "../../src/security/authorizer.js";
import type { Caller } from "../../src/security/caller.js";
import { accessOf, METHOD_ACCESS } from "../../src/security/method-access.js";
import { ROLES, type Role } from "../../src/security/roles.js";

/** Every RPC path of the generated service definitions. */
function contractMethods(): string[] {
  return Object.values(SANPATH_SERVICES).flatMap((service) =>
    Object.values(service.definition as Readonly<Record<string, { path: string }>>).map(
      (method) => method.path,
    ),
  );
}

const authorizer = new Authorizer(undefined);
const callerWith = (role: Role): Caller => ({ name: `someone-${role}`, role, credential: "token" });

function allowedRoles(method: string): Role[] {
  return ROLES.filter((role) => {
    try {
      authorizer.authorize(callerWith(role), method);
      return true;
    } catch {
      return false;
    }
  });
}

describe("the method → role table", () => {
  it("has an entry for every RPC of the contract, and none for an RPC that does not exist", () => {
    const methods = contractMethods();
    expect(methods.length).toBe(31);
    const missing = methods.filter((method) => accessOf(method) === undefined);
    expect(missing, "methods without an access rule (add them to src/security/method-access.ts)").toEqual([]);
    expect(Object.keys(METHOD_ACCESS).sort()).toEqual([...methods].sort());
  });

  it("refuses a method it has no entry for, to every role", () => {
    expect(allowedRoles("/sanpath.v1.DiskService/FormatEverything")).toEqual([]);
    expect(accessOf("/sanpath.v1.DiskService/toString")).toBeUndefined();
  });

  it("lets viewers read and nothing else", () => {
    const viewerMethods = contractMethods().filter((method) => allowedRoles(method).includes("viewer"));
    for (const method of viewerMethods) expect(accessOf(method)?.write, method).toBe(false);
    expect(viewerMethods).toContain("/sanpath.v1.DiskService/ListDisks");
    expect(viewerMethods).toContain("/sanpath.v1.AssignmentService/WatchReassignment");
    expect(viewerMethods).toContain("/sanpath.v1.AssignmentService/PlanReassignment");
  });

  it("gives DiskService writes to disk-admin and admin only", () => {
    for (const method of ["AddDisk", "UpdateDisk", "StopDisk", "StartDisk", "DeleteDisk"]) {
      expect(allowedRoles(`/sanpath.v1.DiskService/${method}`), method).toEqual(["disk-admin", "admin"]);
    }
  });

  it("gives reassignment, cordon and drain to path-admin and admin only", () => {
    for (const method of [
      "/sanpath.v1.AssignmentService/StartReassignment",
      "/sanpath.v1.AssignmentService/CancelReassignment",
      "/sanpath.v1.ClusterService/CordonNode",
      "/sanpath.v1.ClusterService/UncordonNode",
      "/sanpath.v1.ClusterService/DrainNode",
    ]) {
      expect(allowedRoles(method), method).toEqual(["path-admin", "admin"]);
    }
  });

  it("gives InitCluster to admin only", () => {
    expect(allowedRoles("/sanpath.v1.ClusterService/InitCluster")).toEqual(["admin"]);
  });

  it("answers NodeService path changes to cluster members only, not even to admin", () => {
    expect(allowedRoles("/sanpath.v1.NodeService/AcquirePath")).toEqual(["node"]);
    expect(allowedRoles("/sanpath.v1.NodeService/CleanPath")).toEqual(["node"]);
    expect(allowedRoles("/sanpath.v1.NodeService/Status")).toEqual([
      "viewer",
      "disk-admin",
      "path-admin",
      "admin",
      "node",
    ]);
  });

  it("gives a node nothing outside NodeService", () => {
    const nodeMethods = contractMethods().filter((method) => allowedRoles(method).includes("node"));
    expect(nodeMethods.every((method) => method.startsWith("/sanpath.v1.NodeService/"))).toBe(true);
  });

  it("names the caller, its role and the roles the method takes when it refuses", () => {
    expect(() => authorizer.authorize(callerWith("viewer"), "/sanpath.v1.DiskService/AddDisk")).toThrow(
      "someone-viewer (role viewer) may not call DiskService/AddDisk: it takes role disk-admin or admin",
    );
  });
});
