import { SanpathError } from "../errors/sanpath-error.js";

/**
 * The session does not exist (destroyed, expired, invalidated): it can hold no lock. Consul answers
 * an acquire with such a session with HTTP 500 "invalid session".
 */
export class InvalidSessionError extends SanpathError {
  readonly sessionId: string;

  constructor(operation: string, sessionId: string, cause?: unknown) {
    super("failed_precondition", `consul ${operation}: session ${sessionId} does not exist`, { cause });
    this.sessionId = sessionId;
  }
}
