import { status as Status } from "@grpc/grpc-js";
import type { CallAttempt, CallGate, CallOutcome, GatePass } from "../api/call-gate.js";
import type { AuditLog } from "./audit-log.js";
import type { Authorizer } from "./authorizer.js";
import { ANONYMOUS_CALLER, type Caller } from "./caller.js";
import { accessOf } from "./method-access.js";
import { redactRequest } from "./redact-request.js";

/**
 * The CallGate of sanpathd: every sanpath.v1 call is authenticated and authorized (unless auth is
 * off) before its handler runs; every write call, and every refused call, leaves one audit record
 * with the caller, the redacted request, the result code and the duration.
 */
export class SecurityGate implements CallGate {
  /** `authorizer` undefined: auth.mode none, every caller is "anonymous" and let in. */
  constructor(
    private readonly authorizer: Authorizer | undefined,
    private readonly audit: AuditLog,
  ) {}

  open(attempt: CallAttempt): GatePass {
    const started = new Date();
    let caller: Caller | undefined;
    let refusal: Error | undefined;
    if (this.authorizer === undefined) {
      caller = ANONYMOUS_CALLER;
    } else {
      try {
        caller = this.authorizer.authenticate(attempt);
        this.authorizer.authorize(caller, attempt.method);
      } catch (error) {
        refusal = error instanceof Error ? error : new Error(String(error));
      }
    }
    const audited = refusal !== undefined || accessOf(attempt.method)?.write === true;
    let ended = false;
    return {
      caller: refusal === undefined ? caller : undefined,
      refusal,
      end: (outcome: CallOutcome) => {
        if (ended || !audited) return;
        ended = true;
        this.audit.write({
          time: started.toISOString(),
          caller: caller ?? null,
          peer: attempt.peer,
          method: attempt.method,
          request: redactRequest(attempt.request),
          code: codeName(outcome.code),
          ...(outcome.code === Status.OK ? {} : { message: outcome.details }),
          durationMs: Date.now() - started.getTime(),
        });
      },
    };
  }
}

function codeName(code: Status): string {
  const name: unknown = Status[code];
  return typeof name === "string" ? name : String(code);
}
