import { Metadata, status as Status } from "@grpc/grpc-js";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { PeerCertificate, TLSSocket } from "node:tls";
import { InProcessCallError, type InProcessCall } from "../api/call-handlers.js";
import { toGrpcFailure } from "../api/grpc-status.js";
import type { ServiceRegistry } from "../api/service-registry.js";
import { errorMessage, isSanpathError } from "../errors/sanpath-error.js";
import type { Logger } from "../log/logger.js";
import type { Credentials } from "../security/authorizer.js";
import type { Caller } from "../security/caller.js";
import { NODE_ROLE } from "../security/roles.js";
import {
  cookieOf,
  HttpError,
  isPlainObject,
  readJsonBody,
  sendJson,
  SECURITY_HEADERS,
} from "./console-http.js";
import { CONSOLE_METHODS, type ConsoleMethod } from "./console-methods.js";
import type { ConsoleSession, ConsoleSessions } from "./console-sessions.js";
import { httpStatusOf } from "./http-status.js";
import { LoginThrottle } from "./login-throttle.js";

export const SESSION_COOKIE = "sanpath_console";
/** Header every POST must carry: a cross-site form or script cannot send it without CORS, which the console never grants. */
export const CSRF_HEADER = "x-sanpath-console";
const MAX_BODY_BYTES = 256 * 1024;
/** Deadline of a unary call made for the console. */
const CALL_DEADLINE_MS = 60_000;
/** A comment line on quiet event streams, so proxies and browsers keep them open. */
const HEARTBEAT_MS = 15_000;
const MAX_TOKEN_LENGTH = 4096;

export interface ConsoleApiOptions {
  readonly services: ServiceRegistry;
  /** DaemonSecurity.identify: who presents these credentials. */
  readonly identify: (credentials: Credentials) => Caller;
  readonly sessions: ConsoleSessions;
  /** Cookies get the Secure attribute (HTTPS). */
  readonly secure: boolean;
  readonly logger: Logger;
}

/** Who a request acts as: its credentials for the gate, and the session they came from. */
interface RequestIdentity {
  readonly credentials: Credentials;
  readonly session: ConsoleSession | undefined;
}

/**
 * The console's JSON API under /api/: sign-in (a token, kept server-side in a session; or the
 * client certificate of the TLS connection), unary calls as POST /api/call/<Service>/<Method> and
 * server streams as Server-Sent Events, GET /api/watch/<Service>/<Method>?request=<json>. Every
 * call goes through the daemon's gate in process: the same roles and audit as the gRPC API.
 */
export class ConsoleApi {
  private readonly throttle = new LoginThrottle();

  constructor(private readonly options: ConsoleApiOptions) {}

  async handle(path: string, request: IncomingMessage, response: ServerResponse): Promise<void> {
    const method = request.method ?? "GET";
    if (path === "/api/session" && method === "GET") return this.session(request, response);
    if (path === "/api/login" && method === "POST") return this.login(request, response);
    if (path === "/api/logout" && method === "POST") return this.logout(request, response);
    const call = /^\/api\/(call|watch)\/([A-Za-z]+\/[A-Za-z]+)$/.exec(path);
    if (call !== null) {
      const consoleMethod = CONSOLE_METHODS.get(call[2] ?? "");
      const streaming = call[1] === "watch";
      if (consoleMethod?.streaming !== streaming) {
        throw new HttpError(
          404,
          "NOT_FOUND",
          `the console offers no ${streaming ? "stream" : "call"} ${call[2] ?? ""}`,
        );
      }
      if (streaming) {
        if (method !== "GET") throw new HttpError(405, "INVALID_ARGUMENT", "streams are GET requests");
        return this.watch(consoleMethod, request, response);
      }
      if (method !== "POST") throw new HttpError(405, "INVALID_ARGUMENT", "calls are POST requests");
      return this.call(consoleMethod, request, response);
    }
    throw new HttpError(404, "NOT_FOUND", `no such console API: ${method} ${path}`);
  }

  private session(request: IncomingMessage, response: ServerResponse): void {
    const identity = this.identityOf(request);
    sendJson(response, 200, describeCaller(this.identify(identity.credentials)));
  }

  private async login(request: IncomingMessage, response: ServerResponse): Promise<void> {
    requireConsoleHeader(request);
    const address = request.socket.remoteAddress ?? "local";
    this.throttle.check(address);
    const body = await readJsonBody(request, MAX_BODY_BYTES);
    const token = isPlainObject(body) ? body.token : undefined;
    if (typeof token !== "string" || token.trim() === "" || token.length > MAX_TOKEN_LENGTH) {
      throw new HttpError(
        400,
        "INVALID_ARGUMENT",
        `token must be a non-empty string of at most ${MAX_TOKEN_LENGTH} characters`,
        "token",
      );
    }
    let caller: Caller;
    try {
      caller = this.identify({ metadata: bearer(token.trim()), certificate: undefined });
    } catch (error) {
      this.throttle.failed(address);
      this.options.logger.warn({ peer: address, err: errorMessage(error) }, "console sign-in refused");
      throw error;
    }
    const session = this.options.sessions.create(token.trim(), caller);
    this.options.logger.info({ caller: caller.name, role: caller.role, peer: address }, "console sign-in");
    sendJson(response, 200, describeCaller(caller), {
      "set-cookie": this.cookie(session.id, this.options.sessions.cookieMaxAgeSeconds),
    });
  }

  private logout(request: IncomingMessage, response: ServerResponse): void {
    requireConsoleHeader(request);
    const id = cookieOf(request, SESSION_COOKIE);
    if (id !== undefined) this.options.sessions.end(id);
    response.writeHead(204, {
      ...SECURITY_HEADERS,
      "set-cookie": this.cookie("", 0),
      "cache-control": "no-store",
    });
    response.end();
  }

  private async call(
    consoleMethod: ConsoleMethod,
    request: IncomingMessage,
    response: ServerResponse,
  ): Promise<void> {
    requireConsoleHeader(request);
    const identity = this.identityOf(request);
    const body = await readJsonBody(request, MAX_BODY_BYTES);
    const controller = new AbortController();
    const onClose = (): void => {
      if (!response.writableEnded) controller.abort();
    };
    response.once("close", onClose);
    try {
      const answer = await this.options.services.callInProcess(
        this.inProcessCall(
          consoleMethod,
          requestMessage(consoleMethod, body),
          identity,
          request,
          controller.signal,
          new Date(Date.now() + CALL_DEADLINE_MS),
        ),
      );
      sendJson(response, 200, consoleMethod.responseToJson(answer));
    } finally {
      response.off("close", onClose);
    }
  }

  private async watch(
    consoleMethod: ConsoleMethod,
    request: IncomingMessage,
    response: ServerResponse,
  ): Promise<void> {
    const identity = this.identityOf(request);
    const query = new URL(request.url ?? "/", "http://console").searchParams.get("request");
    let json: unknown = {};
    if (query !== null && query !== "") {
      try {
        json = JSON.parse(query) as unknown;
      } catch {
        throw new HttpError(
          400,
          "INVALID_ARGUMENT",
          "the request query parameter is not valid JSON",
          "request",
        );
      }
    }
    const message = requestMessage(consoleMethod, json);
    const controller = new AbortController();
    response.once("close", () => controller.abort());
    response.writeHead(200, {
      ...SECURITY_HEADERS,
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-store",
      "x-accel-buffering": "no",
    });
    response.write(": sanpath console stream\n\n");
    const heartbeat = setInterval(() => response.write(": keep-alive\n\n"), HEARTBEAT_MS);
    try {
      for await (const item of this.options.services.streamInProcess(
        this.inProcessCall(consoleMethod, message, identity, request, controller.signal, undefined),
      )) {
        if (!response.write(`data: ${JSON.stringify(consoleMethod.responseToJson(item))}\n\n`)) {
          await new Promise<void>((resolve) => {
            const done = (): void => {
              response.off("drain", done);
              response.off("close", done);
              resolve();
            };
            response.on("drain", done);
            response.on("close", done);
          });
        }
        if (controller.signal.aborted) return;
      }
      if (!controller.signal.aborted) response.end("event: end\ndata: {}\n\n");
    } catch (error) {
      if (controller.signal.aborted) return;
      const failure = toHttpError(error);
      response.end(
        `event: error\ndata: ${JSON.stringify({ code: failure.code, message: failure.message })}\n\n`,
      );
    } finally {
      clearInterval(heartbeat);
    }
  }

  private inProcessCall(
    consoleMethod: ConsoleMethod,
    message: unknown,
    identity: RequestIdentity,
    request: IncomingMessage,
    signal: AbortSignal,
    deadline: Date | undefined,
  ): InProcessCall {
    return {
      method: consoleMethod.path,
      metadata: identity.credentials.metadata,
      certificate: identity.credentials.certificate,
      peer: `console:${request.socket.remoteAddress ?? "unix"}`,
      request: message,
      signal,
      deadline,
    };
  }

  /** A session cookie's token first (as the gate takes a token before a certificate), else the TLS client certificate. */
  private identityOf(request: IncomingMessage): RequestIdentity {
    const id = cookieOf(request, SESSION_COOKIE);
    const session = id === undefined || id === "" ? undefined : this.options.sessions.use(id);
    if (session !== undefined) {
      return { credentials: { metadata: bearer(session.token), certificate: undefined }, session };
    }
    return {
      credentials: { metadata: new Metadata(), certificate: verifiedCertificate(request) },
      session: undefined,
    };
  }

  /** Identify, refusing node credentials: a cluster member's token or certificate is not an operator's. */
  private identify(credentials: Credentials): Caller {
    const caller = this.options.identify(credentials);
    if (caller.role === NODE_ROLE) {
      throw new HttpError(
        403,
        "PERMISSION_DENIED",
        `${caller.name} has role node: node credentials cannot sign in to the console`,
      );
    }
    return caller;
  }

  private cookie(value: string, maxAgeSeconds: number): string {
    return [
      `${SESSION_COOKIE}=${value}`,
      "Path=/",
      "HttpOnly",
      "SameSite=Strict",
      `Max-Age=${maxAgeSeconds}`,
      ...(this.options.secure ? ["Secure"] : []),
    ].join("; ");
  }
}

/** Any failure of a console request as the HttpError it answers with. */
export function toHttpError(error: unknown): HttpError {
  if (error instanceof HttpError) return error;
  if (error instanceof InProcessCallError)
    return new HttpError(httpStatusOf(error.code), error.codeName, error.details, error.field);
  if (isSanpathError(error)) {
    // Refused before any call (sign-in): the same status the call would have had.
    const failure = toGrpcFailure(error);
    return new HttpError(httpStatusOf(failure.code), Status[failure.code], failure.details, error.field);
  }
  return new HttpError(500, "INTERNAL", "the console failed; see the sanpathd log");
}

function describeCaller(caller: Caller): { name: string; role: string; credential: string } {
  return { name: caller.name, role: caller.role, credential: caller.credential };
}

function bearer(token: string): Metadata {
  const metadata = new Metadata();
  metadata.set("authorization", `Bearer ${token}`);
  return metadata;
}

function requestMessage(consoleMethod: ConsoleMethod, json: unknown): unknown {
  if (!isPlainObject(json))
    throw new HttpError(400, "INVALID_ARGUMENT", "the request must be a JSON object", "request");
  try {
    return consoleMethod.requestFromJson(json);
  } catch (error) {
    throw new HttpError(
      400,
      "INVALID_ARGUMENT",
      `the request does not fit ${consoleMethod.path.slice(1)}: ${errorMessage(error)}`,
      "request",
    );
  }
}

function requireConsoleHeader(request: IncomingMessage): void {
  if (request.headers[CSRF_HEADER] !== "1") {
    throw new HttpError(403, "PERMISSION_DENIED", `POST requests must carry the header ${CSRF_HEADER}: 1`);
  }
}

/** The client certificate the TLS handshake verified against the cluster CA; undefined otherwise. */
function verifiedCertificate(request: IncomingMessage): PeerCertificate | undefined {
  const socket = request.socket as Partial<TLSSocket>;
  if (socket.authorized !== true || socket.getPeerCertificate === undefined) return undefined;
  const certificate = socket.getPeerCertificate();
  return Object.keys(certificate).length === 0 ? undefined : certificate;
}
