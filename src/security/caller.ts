import type { Role } from "./roles.js";

/** How a caller proved who it is. "none": sanpathd runs with auth.mode none (tests, --dev). */
export type CallerCredential = "token" | "certificate" | "none";

/**
 * Who made a call, as handlers see it on `context.caller` (e.g. a job's started_by is
 * `context.caller.name`). Never holds the credential itself.
 */
export interface Caller {
  /** The token's name, the certificate's CN, or "anonymous" without auth. */
  readonly name: string;
  readonly role: Role;
  readonly credential: CallerCredential;
}

/** The caller of every call when auth is off: allowed everything, named for the audit log. */
export const ANONYMOUS_CALLER: Caller = { name: "anonymous", role: "admin", credential: "none" };
