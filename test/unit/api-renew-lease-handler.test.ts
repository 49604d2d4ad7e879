/**
 * NodeService.RenewLease's handler (src/api/renew-lease-handler.ts), on both listeners: the
 * request's rules (checkLeaseRenewal) come before the caller's check, and a refused request never
 * reaches the lease.
 */
import { Metadata } from "@grpc/grpc-js";
import { describe, expect, it } from "vitest";
import type { CallContext } from "../../src/api/call-handlers.js";
import { renewLeaseHandler } from "../../src/api/renew-lease-handler.js";
import type { LeaseRenewal } from "../../src/assignment/node-rpc.js";
import { SanpathError } from "../../src/errors/sanpath-error.js";
import { MAX_LEASE_HOLD_MS } from "../../src/node/peer-lease-port.js";
import { ANONYMOUS_CALLER, type Caller } from "../../src/security/caller.js";
import { rejectionAs } from "../support/thrown.js";

function contextOf(caller: Caller): CallContext {
  return {
    signal: AbortSignal.timeout(5000),
    metadata: new Metadata(),
    peer: "ipv4:127.0.0.1:50000",
    deadline: undefined,
    method: "/sanpath.v1.NodeService/RenewLease",
    caller,
  };
}

/** The handler over a lease that grants every renew and records what it was asked. */
function handlerWithLog(): { handler: ReturnType<typeof renewLeaseHandler>; asked: LeaseRenewal[] } {
  const asked: LeaseRenewal[] = [];
  const handler = renewLeaseHandler((renewal) => {
    asked.push(renewal);
    return Promise.resolve({ node: "b", granted: true, silences: new Map([["c", 40]]) });
  });
  return { handler, asked };
}

describe("RenewLease handler", () => {
  it("renews with hold_ms up to MAX_LEASE_HOLD_MS (60 s) and answers the grant with its silences", async () => {
    const { handler, asked } = handlerWithLog();
    expect(MAX_LEASE_HOLD_MS).toBe(60_000);
    const answer = await handler({ node: "a", holdMs: MAX_LEASE_HOLD_MS }, contextOf(ANONYMOUS_CALLER));
    expect(answer).toEqual({ node: "b", granted: true, silences: [{ node: "c", silentForMs: 40 }] });
    expect(asked).toEqual([{ node: "a", holdMs: 60_000 }]);
  });

  it("refuses hold_ms over 60 s and a request naming no node, naming the field and the rule", async () => {
    const { handler, asked } = handlerWithLog();
    const tooLong = await rejectionAs(
      SanpathError,
      handler({ node: "a", holdMs: MAX_LEASE_HOLD_MS + 1 }, contextOf(ANONYMOUS_CALLER)),
    );
    expect(tooLong).toMatchObject({ kind: "invalid_argument", field: "hold_ms" });
    expect(tooLong.message).toBe("hold_ms: must be at most 60000");
    const nameless = await rejectionAs(
      SanpathError,
      handler({ node: "", holdMs: 0 }, contextOf(ANONYMOUS_CALLER)),
    );
    expect(nameless).toMatchObject({ kind: "invalid_argument", field: "node" });
    expect(nameless.message).toBe("node: must name the renewing node");
    expect(asked).toEqual([]);
  });

  it("checks the request before the caller: a node certificate renews only its own lease", async () => {
    const { handler, asked } = handlerWithLog();
    const nodeB: Caller = { name: "b", role: "node", credential: "certificate" };
    const invalid = await rejectionAs(
      SanpathError,
      handler({ node: "a", holdMs: MAX_LEASE_HOLD_MS + 1 }, contextOf(nodeB)),
    );
    expect(invalid.kind).toBe("invalid_argument");
    const foreign = await rejectionAs(SanpathError, handler({ node: "a", holdMs: 0 }, contextOf(nodeB)));
    expect(foreign.kind).toBe("permission_denied");
    await handler({ node: "b", holdMs: 0 }, contextOf(nodeB));
    expect(asked).toEqual([{ node: "b", holdMs: 0 }]);
  });
});
