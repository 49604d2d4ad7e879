/** The console API over fetch: session, login, logout and unary RPCs (same origin, cookie session). */
import { parseApiError, parseSession, type Session } from "./api-model.js";

/** A failed API request: the HTTP status and the server's error code and message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }

  get unauthenticated(): boolean {
    return this.status === 401 || this.code === "UNAUTHENTICATED";
  }
}

/** Headers every POST carries: JSON, and the console's CSRF guard. */
export const POST_HEADERS: Readonly<Record<string, string>> = {
  "content-type": "application/json",
  "x-sanpath-console": "1",
};

async function request(method: "GET" | "POST", url: string, body?: unknown): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(url, {
      method,
      credentials: "same-origin",
      headers: method === "POST" ? POST_HEADERS : { accept: "application/json" },
      body: method === "POST" ? JSON.stringify(body ?? {}) : undefined,
    });
  } catch (error) {
    throw new ApiError(0, "UNAVAILABLE", `the console server does not answer (${String(error)})`);
  }
  const text = await response.text();
  let json: unknown = undefined;
  if (text !== "") {
    try {
      json = JSON.parse(text);
    } catch {
      json = undefined;
    }
  }
  if (!response.ok) {
    const error = parseApiError(json);
    throw new ApiError(
      response.status,
      error?.code ?? `HTTP_${response.status}`,
      error?.message ?? `${response.status} ${response.statusText}`.trim(),
    );
  }
  return json;
}

/** The signed-in session, or undefined when the server answers 401. */
export async function fetchSession(): Promise<Session | undefined> {
  try {
    return parseSession(await request("GET", "/api/session"));
  } catch (error) {
    if (error instanceof ApiError && error.unauthenticated) return undefined;
    throw error;
  }
}

export async function login(token: string): Promise<Session> {
  return parseSession(await request("POST", "/api/login", { token }));
}

export async function logout(): Promise<void> {
  await request("POST", "/api/logout", {});
}

/** A unary RPC: POST /api/call/<service>/<method> with a proto3-JSON body. */
export async function call<T>(
  service: string,
  method: string,
  body: object,
  parse: (json: unknown) => T,
): Promise<T> {
  const json = await request("POST", `/api/call/${service}/${method}`, body);
  return parse(json);
}
