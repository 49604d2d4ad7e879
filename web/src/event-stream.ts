/**
 * A server stream over Server-Sent Events: GET /api/watch/<service>/<method>?request=<JSON>.
 * Each `message` event is one response; `end` ends the stream; an `error` event with data is the
 * server's error. The EventSource is closed on end and on any error, so it never reconnects by
 * itself: the caller decides whether and how to resume.
 */
import { parseStreamError, type ApiErrorBody } from "./api-model.js";

export interface StreamHandlers {
  onOpen?(): void;
  onMessage(data: unknown): void;
  /** The stream ended normally (`event: end`). */
  onEnd(): void;
  /** The server reported an error (`event: error` with data). */
  onServerError(error: ApiErrorBody): void;
  /** The connection failed or dropped without an end. */
  onTransportError(): void;
}

export interface StreamHandle {
  close(): void;
}

export function watchUrl(service: string, method: string, request: object): string {
  return `/api/watch/${service}/${method}?request=${encodeURIComponent(JSON.stringify(request))}`;
}

function parseData(data: unknown): unknown {
  if (typeof data !== "string") return undefined;
  try {
    const json: unknown = JSON.parse(data);
    return json;
  } catch {
    return undefined;
  }
}

export function openStream(
  service: string,
  method: string,
  request: object,
  handlers: StreamHandlers,
): StreamHandle {
  const source = new EventSource(watchUrl(service, method, request));
  let closed = false;
  const close = (): void => {
    closed = true;
    source.close();
  };
  source.addEventListener("open", () => {
    if (!closed) handlers.onOpen?.();
  });
  source.addEventListener("message", (event) => {
    if (closed) return;
    handlers.onMessage(parseData(event.data));
  });
  source.addEventListener("end", () => {
    if (closed) return;
    close();
    handlers.onEnd();
  });
  // The same event name serves the server's `event: error` (a MessageEvent with data) and the
  // browser's own connection errors (a plain Event).
  source.addEventListener("error", (event) => {
    if (closed) return;
    close();
    if (event instanceof MessageEvent && typeof event.data === "string" && event.data !== "") {
      handlers.onServerError(parseStreamError(parseData(event.data)));
    } else {
      handlers.onTransportError();
    }
  });
  return { close };
}
