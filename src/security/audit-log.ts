import { open } from "node:fs/promises";
import { errorMessage, SanpathError } from "../errors/sanpath-error.js";
import type { Logger } from "../log/logger.js";
import type { Caller } from "./caller.js";

/**
 * One audit line: a JSON object per write call (and per refused call), e.g.
 *   {"time":"2026-01-02T03:04:05.678Z","caller":{"name":"alice","role":"disk-admin","credential":"token"},
 *    "peer":"ipv4:127.0.0.1:51234","method":"/sanpath.v1.DiskService/AddDisk",
 *    "request":{"name":"db","sizeGib":10,"chap":{"user":"u","secret":"[redacted]"}},
 *    "code":"OK","durationMs":41}
 */
export interface AuditRecord {
  /** When the call arrived. */
  readonly time: string;
  /** null: the call carried no credentials sanpathd accepts. */
  readonly caller: Caller | null;
  readonly peer: string;
  readonly method: string;
  /** The request with secrets redacted (src/security/redact-request.ts). */
  readonly request: unknown;
  /** gRPC status code name: "OK", "INVALID_ARGUMENT", "PERMISSION_DENIED", … */
  readonly code: string;
  /** The error message sent to the caller; absent when OK. */
  readonly message?: string;
  readonly durationMs: number;
}

export interface AuditLog {
  write(record: AuditRecord): void;
  close(): Promise<void>;
}

/**
 * Appends one JSON line per record to `path` (made with mode 0600). A file that cannot be opened
 * stops sanpathd at start; writes are buffered by the stream, never awaited on the call path, and
 * a failure later is reported in the daemon log.
 */
export async function openFileAuditLog(path: string, logger: Logger): Promise<AuditLog> {
  const handle = await open(path, "a", 0o600).catch((error: unknown) => {
    const code = (error as NodeJS.ErrnoException).code ?? "error";
    throw new SanpathError(
      "failed_precondition",
      `audit.file ${path} cannot be opened for appending (${code})`,
      {
        field: "audit.file",
        cause: error,
      },
    );
  });
  const stream = handle.createWriteStream();
  let failed = false;
  stream.on("error", (error) => {
    if (!failed) logger.error({ auditFile: path, err: errorMessage(error) }, "audit log cannot be written");
    failed = true;
  });
  return {
    write(record) {
      if (!stream.writableEnded) stream.write(`${JSON.stringify(record)}\n`);
    },
    close() {
      return new Promise((resolve) => {
        if (stream.writableEnded) resolve();
        else stream.end(() => resolve());
      });
    },
  };
}

/** Without audit.file: the records go to the daemon log as `{"msg":"audit","audit":{…}}`. */
export function loggerAuditLog(logger: Logger): AuditLog {
  return {
    write(record) {
      logger.info({ audit: record }, "audit");
    },
    close: () => Promise.resolve(),
  };
}
