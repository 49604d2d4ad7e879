import { Metadata, status as Status, type ServiceError } from "@grpc/grpc-js";
import { FIELD_METADATA_KEY, REASON_METADATA_KEY } from "../api/grpc-status.js";
import { escapeControls } from "../util/escape-controls.js";
import type { OutputFormat } from "./client.js";

export const EXIT_OK = 0;
/** The call failed, or `sanpath health` found something not serving. */
export const EXIT_FAILED = 1;
/** Bad command line. */
export const EXIT_USAGE = 2;

/** grpc-js details of a connection the TLS handshake refused (either side). */
const TLS_FAILURE =
  /SSL routines|alert (certificate|unknown ca|bad certificate|handshake)|self[- ]signed|unable to verify|certificate/i;

/** A mistake on the command line, found before any call. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

export interface PrintableFailure {
  /** gRPC code name, e.g. "UNAVAILABLE"; "USAGE" or "ERROR" for local failures. */
  code: string;
  message: string;
  reason?: string;
  field?: string;
  hint?: string;
}

/** What a failed command shows: the gRPC code, reason and field of a call, with a hint when one helps. */
export function describeFailure(error: unknown, server: string): PrintableFailure {
  if (error instanceof UsageError) return { code: "USAGE", message: error.message, hint: "see --help" };
  if (isServiceError(error)) {
    const code = Status[error.code] as string | undefined;
    // grpc-js appends an empty "Resolution note:" to connection failures.
    const message = error.details.replace(/\s*Resolution note:\s*$/, "");
    const failure: PrintableFailure = { code: code ?? String(error.code), message };
    const reason = firstString(error.metadata, REASON_METADATA_KEY);
    const field = firstString(error.metadata, FIELD_METADATA_KEY);
    if (reason !== undefined) failure.reason = reason;
    if (field !== undefined) failure.field = field;
    if (error.code === Status.UNAVAILABLE && TLS_FAILURE.test(message)) {
      failure.hint =
        "the TLS handshake failed: --ca must be the cluster CA, and --cert/--key a certificate it signed " +
        "(or $SANPATH_CA, $SANPATH_CERT, $SANPATH_KEY)";
    } else if (error.code === Status.UNAVAILABLE) {
      failure.hint = `is sanpathd running at ${server}? (set --server or $SANPATH_SERVER)`;
    } else if (error.code === Status.DEADLINE_EXCEEDED) {
      failure.hint = "the call took longer than --timeout";
    }
    return failure;
  }
  return { code: "ERROR", message: error instanceof Error ? error.message : String(error) };
}

/**
 * `error: CODE: message` plus reason/field/hint lines, or one JSON object with --output json. The
 * text form escapes control characters: the message may echo what was typed or what a server sent.
 */
export function formatFailure(failure: PrintableFailure, output: OutputFormat): string {
  if (output === "json") return JSON.stringify({ error: failure });
  const lines = [`error: ${failure.code}: ${escapeControls(failure.message)}`];
  if (failure.reason !== undefined) lines.push(`  reason: ${escapeControls(failure.reason)}`);
  if (failure.field !== undefined) lines.push(`  field:  ${escapeControls(failure.field)}`);
  if (failure.hint !== undefined) lines.push(`  hint:   ${failure.hint}`);
  return lines.join("\n");
}

function isServiceError(error: unknown): error is ServiceError {
  if (!(error instanceof Error)) return false;
  const candidate = error as Partial<ServiceError>;
  return (
    typeof candidate.code === "number" &&
    typeof candidate.details === "string" &&
    candidate.metadata instanceof Metadata
  );
}

function firstString(metadata: Metadata, key: string): string | undefined {
  const value = metadata.get(key)[0];
  return typeof value === "string" ? value : undefined;
}
