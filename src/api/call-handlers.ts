import { randomUUID } from "node:crypto";
import type {
  handleServerStreamingCall,
  handleUnaryCall,
  Metadata,
  ServerUnaryCall,
  ServerWritableStream,
} from "@grpc/grpc-js";
import { SanpathError } from "../errors/sanpath-error.js";
import { createLogger, type Logger } from "../log/logger.js";
import { ActiveCalls, type CallKind } from "./active-calls.js";
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
}

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
    const opened = openCall(call, "unary", calls);
    void Promise.resolve()
      .then(() => handler(call.request, opened.context))
      .then(
        (response) => callback(null, response),
        (error: unknown) => callback(toServiceErrorObject(failureOf(error, opened.context, logger))),
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
    const opened = openCall(call, "server-stream", calls);
    void pumpStream(call, handler, opened.context, logger).finally(opened.close);
  };
}

const ABORTED = Symbol("aborted");

async function pumpStream<Request, Response>(
  call: ServerWritableStream<Request, Response>,
  handler: ServerStreamHandler<Request, Response>,
  context: CallContext,
  logger: Logger,
): Promise<void> {
  const { signal } = context;
  const aborted = new Promise<typeof ABORTED>((resolve) => {
    if (signal.aborted) resolve(ABORTED);
    else signal.addEventListener("abort", () => resolve(ABORTED), { once: true });
  });
  let iterator: AsyncIterator<Response> | undefined;
  try {
    iterator = handler(call.request, context)[Symbol.asyncIterator]();
    for (;;) {
      const next = await Promise.race([iterator.next(), aborted]);
      if (next === ABORTED) break;
      if (next.done === true) {
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
    endWithFailure(call, signal.reason, context, logger);
  } catch (error) {
    endWithFailure(call, error, context, logger);
  }
}

function endWithFailure<Request, Response>(
  call: ServerWritableStream<Request, Response>,
  error: unknown,
  context: CallContext,
  logger: Logger,
): void {
  // A cancelled call (client gone, or deadline status already sent by grpc-js) takes no more status.
  if (call.cancelled) return;
  call.emit("error", toServiceErrorObject(failureOf(error, context, logger)));
}

function failureOf(error: unknown, context: CallContext, logger: Logger): ReturnType<typeof toGrpcFailure> {
  const errorId = randomUUID().slice(0, 8);
  const failure = toGrpcFailure(error, errorId);
  if (failure.internal) logger.error({ err: error, errorId, method: context.method }, "call failed");
  else logger.debug({ code: failure.code, details: failure.details, method: context.method }, "call failed");
  return failure;
}

interface OpenedCall {
  context: CallContext;
  /** Forgets the call: timers, listeners, registry entry. */
  close: () => void;
}

function openCall(
  call: ServerUnaryCall<unknown, unknown> | ServerWritableStream<unknown, unknown>,
  kind: CallKind,
  calls: ActiveCalls,
): OpenedCall {
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
  return {
    context: { signal: controller.signal, metadata: call.metadata, peer: call.getPeer(), deadline, method },
    close: () => {
      clearTimeout(timer);
      call.off("cancelled", onCancelled);
      unregister();
    },
  };
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
