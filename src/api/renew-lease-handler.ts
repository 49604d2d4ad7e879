import type { LeaseGrant, LeaseRenewal } from "../assignment/node-rpc.js";
import { SanpathError } from "../errors/sanpath-error.js";
import { checkLeaseRenewal } from "../node/peer-lease-port.js";
import type { ServiceHandlers } from "./service-registry.js";

/**
 * NodeService.RenewLease, on the main gRPC port (node-handlers.ts) and on the lease worker's own
 * listener (lease-worker/lease-listener.ts) alike: the request checked, the caller checked, `renew` asked.
 */
export function renewLeaseHandler(
  renew: (renewal: LeaseRenewal) => Promise<LeaseGrant>,
): ServiceHandlers<"node">["renewLease"] {
  return async (request, { caller }) => {
    checkLeaseRenewal(request);
    // A node certificate renews only its own lease: a member must not keep another one alive.
    if (caller.credential === "certificate" && caller.role === "node" && caller.name !== request.node) {
      throw new SanpathError(
        "permission_denied",
        `node ${caller.name} may renew only its own lease, not ${request.node}'s`,
        { reason: "PERMISSION_DENIED" },
      );
    }
    const grant = await renew({ node: request.node, holdMs: request.holdMs });
    return {
      node: grant.node,
      granted: grant.granted,
      silences: [...grant.silences].map(([node, silentForMs]) => ({ node, silentForMs })),
    };
  };
}
