import { randomUUID } from "node:crypto";
import {
  status as Status,
  type handleServerStreamingCall,
  type handleUnaryCall,
  type Metadata,
  type ServerUnaryCall,
  type ServerWritableStream,
} from "@grpc/grpc-js";
import type { PeerCertificate } from "node:tls";
import { SanpathError } from "../errors/sanpath-error.js";
import { createLogger, type Logger } from "../log/logger.js";
import { ANONYMOUS_CALLER, type Caller } from "../security/caller.js";
import { ActiveCalls, type CallKind } from "./active-calls.js";
import type { CallGate, CallOutcome } from "./call-gate.js";
import { FIELD_METADATA_KEY, toGrpcFailure, toServiceErrorObject } from "./grpc-status.js";

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
    const opened = openCall(grpcCallSource(call), "unary", calls, options.gate, options.observe);
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
    const opened = openCall(grpcCallSource(call), "server-stream", calls, options.gate, options.observe);
    void pumpStream(call, handler, opened, logger).finally(opened.close);
  };
}

/**
 * A call made inside sanpathd on behalf of an outside caller (the web console's user): it passes
 * the same gate (authentication, roles, audit), metrics and shutdown registry as a gRPC call.
 */
export interface InProcessCall {
  /** "/package.Service/Method". */
  readonly method: string;
  /** The caller's credentials as gRPC metadata (authorization: Bearer …), possibly empty. */
  readonly metadata: Metadata;
  /** The caller's verified client certificate, if any. */
  readonly certificate: PeerCertificate | undefined;
  /** Who is on the other end, for the audit log ("console:<address>"). */
  readonly peer: string;
  readonly request: unknown;
  /** Aborted when the caller goes away. */
  readonly signal: AbortSignal;
  readonly deadline: Date | undefined;
}

/** A failed in-process call: the gRPC status the same failure would have had on the wire. */
export class InProcessCallError extends Error {
  constructor(
    readonly code: Status,
    readonly details: string,
    readonly field: string | undefined,
  ) {
    super(details);
    this.name = "InProcessCallError";
  }

  /** "PERMISSION_DENIED", … */
  get codeName(): string {
    const name: unknown = Status[this.code];
    return typeof name === "string" ? name : String(this.code);
  }
}

/** Runs a unary handler for an in-process call; rejects with an InProcessCallError. */
export async function invokeUnary<Request, Response>(
  handler: UnaryHandler<Request, Response>,
  call: InProcessCall,
  options: HandlerOptions = {},
): Promise<Response> {
  const calls = options.calls ?? new ActiveCalls();
  const logger = options.logger ?? silentLogger();
  const opened = openCall(inProcessCallSource(call), "unary", calls, options.gate, options.observe);
  try {
    if (opened.refusal !== undefined) throw opened.refusal;
    const response = await handler(call.request as Request, opened.context);
    opened.outcome = OK_OUTCOME;
    return response;
  } catch (error) {
    const failure = failureOf(error, opened.context, logger);
    opened.outcome = failure;
    throw inProcessError(failure);
  } finally {
    opened.close();
  }
}

/**
 * Runs a server-streaming handler for an in-process call: yields its messages until it ends,
 * the call's signal aborts (then it returns quietly) or it fails (InProcessCallError).
 */
export async function* invokeStream<Request, Response>(
  handler: ServerStreamHandler<Request, Response>,
  call: InProcessCall,
  options: HandlerOptions = {},
): AsyncGenerator<Response, void, undefined> {
  const calls = options.calls ?? new ActiveCalls();
  const logger = options.logger ?? silentLogger();
  const opened = openCall(inProcessCallSource(call), "server-stream", calls, options.gate, options.observe);
  const { signal } = opened.context;
  const aborted = abortedOf(signal);
  let iterator: AsyncIterator<Response> | undefined;
  let handlerDone = false;
  try {
    if (opened.refusal !== undefined) throw opened.refusal;
    iterator = handler(call.request as Request, opened.context)[Symbol.asyncIterator]();
    for (;;) {
      const next = await Promise.race([iterator.next(), aborted]);
      if (next === ABORTED) break;
      if (next.done === true) {
        handlerDone = true;
        opened.outcome = OK_OUTCOME;
        return;
      }
      yield next.value;
    }
    if (call.signal.aborted) return;
    // Aborted by a deadline or by shutdown, not by the caller: that is the stream's failure.
    const failure = failureOf(signal.reason, opened.context, logger);
    opened.outcome = failure;
    throw inProcessError(failure);
  } catch (error) {
    // Thrown just above: the handler's iterator is still open (finally returns it).
    if (error instanceof InProcessCallError) throw error;
    handlerDone = true;
    const failure = failureOf(error, opened.context, logger);
    opened.outcome = failure;
    throw inProcessError(failure);
  } finally {
    // Stopped early (aborted, or the consumer left the loop): let the handler's generator clean up.
    if (!handlerDone && iterator !== undefined) returnQuietly(iterator);
    opened.close();
  }
}

function inProcessError(failure: ReturnType<typeof toGrpcFailure>): InProcessCallError {
  const field = failure.metadata.get(FIELD_METADATA_KEY)[0];
  return new InProcessCallError(failure.code, failure.details, typeof field === "string" ? field : undefined);
}

const ABORTED = Symbol("aborted");

/** Resolves to ABORTED once `signal` aborts (at once when it has). */
function abortedOf(signal: AbortSignal): Promise<typeof ABORTED> {
  return new Promise((resolve) => {
    if (signal.aborted) resolve(ABORTED);
    else signal.addEventListener("abort", () => resolve(ABORTED), { once: true });
  });
}

/** Lets a handler's iterator clean up (its generator's finally blocks) without waiting for it. */
function returnQuietly(iterator: AsyncIterator<unknown>): void {
  const pending = iterator.return?.();
  if (pending !== undefined) pending.catch(() => undefined);
}

async function pumpStream<Request, Response>(
  call: ServerWritableStream<Request, Response>,
  handler: ServerStreamHandler<Request, Response>,
  opened: OpenedCall,
  logger: Logger,
): Promise<void> {
  const { context } = opened;
  const { signal } = context;
  const aborted = abortedOf(signal);
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
    returnQuietly(iterator);
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

/** What openCall needs of a call, whether grpc-js or the web console (in process) made it. */
interface CallSource {
  readonly method: string;
  readonly deadline: Date | undefined;
  readonly metadata: Metadata;
  readonly peer: string;
  readonly certificate: PeerCertificate | undefined;
  readonly request: unknown;
  /** Calls `listener` once when the client goes away; returns how to stop listening. */
  onCancelled(listener: () => void): () => void;
}

function grpcCallSource(
  call: ServerUnaryCall<unknown, unknown> | ServerWritableStream<unknown, unknown>,
): CallSource {
  return {
    method: call.getPath(),
    deadline: deadlineOf(call.getDeadline()),
    metadata: call.metadata,
    peer: call.getPeer(),
    certificate: call.getAuthContext().sslPeerCertificate,
    request: call.request,
    onCancelled: (listener) => {
      call.once("cancelled", listener);
      return () => call.off("cancelled", listener);
    },
  };
}

function inProcessCallSource(call: InProcessCall): CallSource {
  return {
    method: call.method,
    deadline: call.deadline,
    metadata: call.metadata,
    peer: call.peer,
    certificate: call.certificate,
    request: call.request,
    onCancelled: (listener) => {
      if (call.signal.aborted) {
        queueMicrotask(listener);
        return () => undefined;
      }
      call.signal.addEventListener("abort", listener, { once: true });
      return () => call.signal.removeEventListener("abort", listener);
    },
  };
}

function openCall(
  source: CallSource,
  kind: CallKind,
  calls: ActiveCalls,
  gate: CallGate | undefined,
  observe: CallObserver | undefined,
): OpenedCall {
  const started = performance.now();
  const controller = new AbortController();
  const { method, deadline, peer } = source;
  let timer: NodeJS.Timeout | undefined;
  if (deadline !== undefined) {
    const delay = Math.max(0, deadline.getTime() - Date.now());
    if (delay <= MAX_TIMER_MS) {
      timer = setTimeout(() => {
        controller.abort(new SanpathError("deadline_exceeded", `the deadline of ${method} passed`));
      }, delay);
    }
  }
  const stopListening = source.onCancelled(() => {
    controller.abort(new SanpathError("cancelled", `the client cancelled ${method}`));
  });
  const unregister = calls.register({ kind, method, abort: (reason) => controller.abort(reason) });
  const pass = gate?.open({
    method,
    metadata: source.metadata,
    peer,
    certificate: source.certificate,
    request: source.request,
  });
  const opened: OpenedCall = {
    context: {
      signal: controller.signal,
      metadata: source.metadata,
      peer,
      deadline,
      method,
      caller: pass?.caller ?? ANONYMOUS_CALLER,
    },
    refusal: pass?.refusal,
    outcome: CANCELLED_OUTCOME,
    close: () => {
      clearTimeout(timer);
      stopListening();
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
