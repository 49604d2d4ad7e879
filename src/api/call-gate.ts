import type { Metadata, status as Status } from "@grpc/grpc-js";
import type { PeerCertificate } from "node:tls";
import type { Caller } from "../security/caller.js";

/** What the gate sees of a call before its handler runs. */
export interface CallAttempt {
  /** "/package.Service/Method". */
  readonly method: string;
  readonly metadata: Metadata;
  readonly peer: string;
  /** The client certificate, verified by the TLS handshake; undefined without mutual TLS. */
  readonly certificate: PeerCertificate | undefined;
  readonly request: unknown;
}

/** How a call ended: its gRPC status code and message. */
export interface CallOutcome {
  readonly code: Status;
  readonly details: string;
}

/** One call's passage through the gate. */
export interface GatePass {
  /** Who is calling; undefined when the credentials were missing or not accepted. */
  readonly caller: Caller | undefined;
  /** Set when the call is refused: it ends with this error and its handler never runs. */
  readonly refusal: Error | undefined;
  /** Called once, when the call has ended (refused, failed, cancelled or done). */
  end(outcome: CallOutcome): void;
}

/**
 * Authentication, authorization and audit of every sanpath.v1 call, applied by unary() and
 * serverStream() (src/api/call-handlers.ts) before the handler runs. Implemented by
 * src/security/security-gate.ts.
 */
export interface CallGate {
  open(attempt: CallAttempt): GatePass;
}
