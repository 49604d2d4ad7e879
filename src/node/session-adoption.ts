import { performance } from "node:perf_hooks";
import { errorMessage } from "../errors/sanpath-error.js";
import type { SessionHandover } from "../kv/session-handover.js";
import type { SessionStore } from "../kv/session-store.js";
import type { Logger } from "../log/logger.js";
import type { AdoptedSession } from "./node-session.js";

export interface SessionAdoptionOptions {
  handover: SessionHandover;
  sessions: SessionStore;
  /** How many paths the journal says are served (for the log). */
  servedPaths: () => number;
  logger: Logger;
  signal: AbortSignal;
}

/** The longest a confirming renew may take, whatever time the hand-over leaves. */
const RENEW_TIMEOUT_MS = 3000;

/**
 * The session a predecessor handed over on a restart (NodeAgent.handOver), when Consul still
 * confirms it in time: the paths it left up stay served and nothing is swept. Claiming the
 * hand-over keeps the predecessor's crash guard from tearing them down, so when adoption fails the
 * caller sweeps at once, before the predecessor's fence time (the renew's deadline is bounded by
 * the time left; node-session.ts has the whole argument).
 */
export async function adoptHandedOverSession(
  options: SessionAdoptionOptions,
): Promise<AdoptedSession | undefined> {
  const { handover, sessions, logger: log } = options;
  let claimed;
  // Read before the claim: the hand-over's end is then never put later than it is.
  const beforeClaim = performance.now();
  try {
    claimed = await handover.claim();
  } catch (error) {
    log.warn({ err: errorMessage(error) }, "hand-over not readable: starting from a clean node");
    return undefined;
  }
  if (claimed === undefined) return undefined;
  const session = claimed.sessionId;
  if (claimed.remainingMs <= 0) {
    log.warn({ session }, "the previous daemon's hand-over expired: starting from a clean node");
    return undefined;
  }
  const sentAt = performance.now();
  const timeoutMs = Math.max(1, Math.floor(Math.min(claimed.remainingMs, RENEW_TIMEOUT_MS)));
  try {
    if (
      await sessions.renew(session, {
        signal: AbortSignal.any([options.signal, AbortSignal.timeout(timeoutMs)]),
      })
    ) {
      log.info(
        { session, paths: options.servedPaths() },
        "took over the session the previous daemon handed over: its paths stay served",
      );
      return { id: session, sentAt, fenceBy: beforeClaim + claimed.remainingMs };
    }
    log.warn({ session }, "the handed-over session is gone: starting from a clean node");
  } catch (error) {
    log.warn(
      { session, err: errorMessage(error) },
      "the handed-over session could not be confirmed in time: starting from a clean node",
    );
  }
  return undefined;
}
