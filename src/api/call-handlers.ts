import { randomUUID } from "node:crypto";
import {
  status as Status,
  type handleServerStreamingCall,
  type handleUnaryCall,
  type Metadata,
  type ServerUnaryCall,
  type ServerWritableStream,
} from "@grpc/grpc-js";
import { SanpathError } from "../errors/sanpath-error.js";
import { createLogger, type Logger } from "../log/logger.js";
import { ANONYMOUS_CALLER, type Caller } from "../security/caller.js";
import { ActiveCalls, type CallKind } from "./active-calls.js";
import type { CallGate, CallOutcome } from "./call-gate.js";
import { toGrpcFailure, toServiceErrorObject } from "./grpc-status.js";

/** What a handler knows about its call besides the request. */
export interface CallContext {
  /** Aborted when the client cancels, the deadline passes, or sanpathd shuts down; `reason` says which. */
  readonly signal: AbortSignal;
  readonly metadata: Metadata;
  readonly peer: string;
  /** The client's deadline; undefined when it set none. */
  readonly deadline: Date | undefined;
  /** "/package.Service/Method". */
  readonly method: string;
  /** Who is calling (authenticated and authorized by the gate); "anonymous" when auth is off. */
  readonly caller: Caller;
}

export type UnaryHandler<Request, Response> = (request: Request, context: CallContext) => Promise<Response>;
/** Yields the messages of a server stream; the stream ends when the iterable does. */
export type ServerStreamHandler<Request, Response> = (
  request: Request,
  context: CallContext,
) => AsyncIterable<Response>;

export interface HandlerOptions {
  /** Where the call is registered for shutdown; a private registry when omitted. */
  calls?: ActiveCalls;
  /** Failures are logged here (internal ones at error level with their error id). */
  logger?: Logger;
  /** Authentication, authorization and audit before every handler; none = every call is let in. */
  gate?: CallGate;
  /** Told of every call that ended: method, status code name, seconds (metrics). */
  observe?: CallObserver;
}

export type CallObserver = (method: string, code: string, seconds: number) => void;

/** Longest delay setTimeout honours; later deadlines need no timer during a process's life. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** A grpc-js unary handler from `async (request, context) => response`; failures go through toGrpcFailure. */
export function unary<Request, Response>(
  handler: UnaryHandler<Request, Response>,
  options: HandlerOptions = {},
): handleUnaryCall<Request, Response> {
  const calls = options.calls ?? new ActiveCalls();
  const logger = options.logger ?? silentLogger();
  return (call, callback) => {
    const opened = openCall(call, "unary", calls, options.gate, options.observe);
    void Promise.resolve()
      .then(() => {
        if (opened.refusal !== undefined) throw opened.refusal;
        return handler(call.request, opened.context);
      })
      .then(
        (response) => {
          opened.outcome = OK_OUTCOME;
          callback(null, response);
        },
        (error: unknown) => {
          const failure = failureOf(error, opened.context, logger);
          opened.outcome = failure;
          callback(toServiceErrorObject(failure));
        },
      )
      .finally(opened.close);
  };
}

/**
 * A grpc-js server-streaming handler from a function returning an async iterable. Honours
 * backpressure (waits for "drain"), ends at once when the call is cancelled, its deadline passes or
 * sanpathd shuts down (the iterator's `return()` then runs the generator's `finally` blocks).
 */
export function serverStream<Request, Response>(
  handler: ServerStreamHandler<Request, Response>,
  options: HandlerOptions = {},
): handleServerStreamingCall<Request, Response> {
  const calls = options.calls ?? new ActiveCalls();
  const logger = options.logger ?? silentLogger();
  return (call) => {
    const opened = openCall(call, "server-stream", calls, options.gate, options.observe);
    void pumpStream(call, handler, opened, logger).finally(opened.close);
  };
}

const ABORTED = Symbol("aborted");

async function pumpStream<Request, Response>(
  call: ServerWritableStream<Request, Response>,
  handler: ServerStreamHandler<Request, Response>,
  opened: OpenedCall,
  logger: Logger,
): Promise<void> {
  const { context } = opened;
  const { signal } = context;
  const aborted = new Promise<typeof ABORTED>((resolve) => {
    if (signal.aborted) resolve(ABORTED);
    else signal.addEventListener("abort", () => resolve(ABORTED), { once: true });
  });
  let iterator: AsyncIterator<Response> | undefined;
  try {
    if (opened.refusal !== undefined) throw opened.refusal;
    iterator = handler(call.request, context)[Symbol.asyncIterator]();
    for (;;) {
      const next = await Promise.race([iterator.next(), aborted]);
      if (next === ABORTED) break;
      if (next.done === true) {
        opened.outcome = OK_OUTCOME;
        call.end();
        return;
      }
      if (!call.write(next.value)) {
        const drained = await Promise.race([
          new Promise<void>((resolve) => call.once("drain", () => resolve())),
          aborted,
        ]);
        if (drained === ABORTED) break;
      }
    }
    // Aborted: let the generator clean up without waiting for it, then end the call.
    const pendingReturn = iterator.return?.();
    if (pendingReturn !== undefined) pendingReturn.catch(() => undefined);
    endWithFailure(call, signal.reason, opened, logger);
  } catch (error) {
    endWithFailure(call, error, opened, logger);
  }
}

function endWithFailure<Request, Response>(
  call: ServerWritableStream<Request, Response>,
  error: unknown,
  opened: OpenedCall,
  logger: Logger,
): void {
  const failure = failureOf(error, opened.context, logger);
  opened.outcome = call.cancelled ? CANCELLED_OUTCOME : failure;
  // A cancelled call (client gone, or deadline status already sent by grpc-js) takes no more status.
  if (call.cancelled) return;
  call.emit("error", toServiceErrorObject(failure));
}

function failureOf(error: unknown, context: CallContext, logger: Logger): ReturnType<typeof toGrpcFailure> {
  const errorId = randomUUID().slice(0, 8);
  const failure = toGrpcFailure(error, errorId);
  if (failure.internal) logger.error({ err: error, errorId, method: context.method }, "call failed");
  else logger.debug({ code: failure.code, details: failure.details, method: context.method }, "call failed");
  return failure;
}

const OK_OUTCOME: CallOutcome = { code: Status.OK, details: "" };
const CANCELLED_OUTCOME: CallOutcome = { code: Status.CANCELLED, details: "the client cancelled the call" };

interface OpenedCall {
  context: CallContext;
  /** The gate refused the call: it fails with this, its handler never runs. */
  refusal: Error | undefined;
  /** How the call ended, for the gate (audit); CANCELLED until set. */
  outcome: CallOutcome;
  /** Forgets the call (timers, listeners, registry entry) and tells the gate how it ended. */
  close: () => void;
}

function openCall(
  call: ServerUnaryCall<unknown, unknown> | ServerWritableStream<unknown, unknown>,
  kind: CallKind,
  calls: ActiveCalls,
  gate: CallGate | undefined,
  observe: CallObserver | undefined,
): OpenedCall {
  const started = performance.now();
  const controller = new AbortController();
  const method = call.getPath();
  const deadline = deadlineOf(call.getDeadline());
  let timer: NodeJS.Timeout | undefined;
  if (deadline !== undefined) {
    const delay = Math.max(0, deadline.getTime() - Date.now());
    if (delay <= MAX_TIMER_MS) {
      timer = setTimeout(() => {
        controller.abort(new SanpathError("deadline_exceeded", `the deadline of ${method} passed`));
      }, delay);
    }
  }
  const onCancelled = (): void => {
    controller.abort(new SanpathError("cancelled", `the client cancelled ${method}`));
  };
  call.once("cancelled", onCancelled);
  const unregister = calls.register({ kind, method, abort: (reason) => controller.abort(reason) });
  const peer = call.getPeer();
  const pass = gate?.open({
    method,
    metadata: call.metadata,
    peer,
    certificate: call.getAuthContext().sslPeerCertificate,
    request: call.request,
  });
  const opened: OpenedCall = {
    context: {
      signal: controller.signal,
      metadata: call.metadata,
      peer,
      deadline,
      method,
      caller: pass?.caller ?? ANONYMOUS_CALLER,
    },
    refusal: pass?.refusal,
    outcome: CANCELLED_OUTCOME,
    close: () => {
      clearTimeout(timer);
      call.off("cancelled", onCancelled);
      unregister();
      pass?.end(opened.outcome);
      observe?.(method, Status[opened.outcome.code], (performance.now() - started) / 1000);
    },
  };
  return opened;
}

function deadlineOf(deadline: Date | number): Date | undefined {
  const millis = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(millis) ? new Date(millis) : undefined;
}

let silent: Logger | undefined;
function silentLogger(): Logger {
  silent ??= createLogger({ level: "silent" });
  return silent;
}
