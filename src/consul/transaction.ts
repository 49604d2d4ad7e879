import type { CallOptions } from "../util/call-options.js";
import { SanpathError } from "../errors/sanpath-error.js";
import { checkKvOperation } from "../kv/key-rules.js";
import {
  MAX_OPS_PER_TRANSACTION,
  type KvEntry,
  type KvOperation,
  type TransactionResult,
} from "../kv/kv-store.js";
import {
  laterChunkFailure,
  TransactionConflictError,
  type TransactionOpError,
} from "../kv/transaction-conflict.js";
import { isRecord, parseKvItem, type ConsulClient } from "./consul-client.js";

/** Verbs after which Consul puts an entry in Results; the others add nothing. */
const VERBS_WITH_RESULT = new Set(["set", "cas", "check-index", "check-session", "get", "lock", "unlock"]);

/**
 * Runs KV operations in Consul transactions.
 *
 * Atomicity is per chunk: up to 64 operations are all-or-nothing. A longer list is split into chunks
 * of 64 that run one after the other; when chunk k fails, chunks 0..k-1 stay committed, chunk k is
 * rolled back and later chunks never run. Callers needing all-or-nothing must keep to 64 operations.
 *
 * Throws TransactionConflictError (kind "aborted", reason CAS_CONFLICT) when Consul refuses a chunk,
 * with the global index of the failing operation; SanpathError "unavailable" when Consul cannot be
 * reached (then the outcome of the chunk in flight is unknown).
 */
export async function runTransaction(
  client: ConsulClient,
  operations: readonly KvOperation[],
  options: CallOptions = {},
): Promise<TransactionResult> {
  const body = operations.map((operation, index) => toConsulOperation(operation, index));
  const results: (KvEntry | undefined)[] = [];
  const chunkCount = Math.ceil(body.length / MAX_OPS_PER_TRANSACTION);
  for (let chunk = 0; chunk < chunkCount; chunk += 1) {
    const offset = chunk * MAX_OPS_PER_TRANSACTION;
    const chunkOps = operations.slice(offset, offset + MAX_OPS_PER_TRANSACTION);
    const chunkBody = body.slice(offset, offset + MAX_OPS_PER_TRANSACTION);
    let outcome;
    try {
      outcome = await client.callAccepting("txn", options, [409], (raw, common) =>
        raw.transaction.create(chunkBody, { ...common }),
      );
    } catch (error) {
      throw laterChunkFailure(error, chunk, chunkCount);
    }
    if (!outcome.ok) {
      const errors = parseErrors(outcome.rejection.body).map((error) => ({
        opIndex: error.opIndex < 0 ? -1 : offset + error.opIndex,
        what: error.what,
      }));
      throw new TransactionConflictError(errors, chunk, outcome.rejection);
    }
    results.push(...alignResults(chunkOps, outcome.value));
  }
  return { results };
}

function toConsulOperation(operation: KvOperation, index: number): { KV: Record<string, unknown> } {
  checkKvOperation(operation, index);
  const kv: Record<string, unknown> = { Verb: operation.verb, Key: operation.key };
  switch (operation.verb) {
    case "set":
    case "cas":
    case "lock":
    case "unlock":
      kv.Value = Buffer.from(operation.value, "utf8").toString("base64");
      if (operation.flags !== undefined) kv.Flags = operation.flags;
      break;
    default:
      break;
  }
  switch (operation.verb) {
    case "cas":
    case "delete-cas":
    case "check-index":
      kv.Index = operation.index;
      break;
    case "check-session":
    case "lock":
    case "unlock":
      kv.Session = operation.session;
      break;
    default:
      break;
  }
  return { KV: kv };
}

function alignResults(operations: readonly KvOperation[], answer: unknown): (KvEntry | undefined)[] {
  const raw = isRecord(answer) && Array.isArray(answer.Results) ? answer.Results : [];
  const entries = raw.map((result: unknown) => {
    const kv = isRecord(result) ? result.KV : undefined;
    if (!isRecord(kv)) throw new SanpathError("internal", "consul txn: result without KV");
    const value = typeof kv.Value === "string" ? Buffer.from(kv.Value, "base64").toString("utf8") : null;
    return parseKvItem({ ...kv, Value: value });
  });
  let next = 0;
  return operations.map((operation) => (VERBS_WITH_RESULT.has(operation.verb) ? entries[next++] : undefined));
}

function parseErrors(body: unknown): TransactionOpError[] {
  let parsed: unknown = body;
  if (typeof body === "string" || Buffer.isBuffer(body)) {
    try {
      parsed = JSON.parse(body.toString());
    } catch {
      return [{ opIndex: -1, what: body.toString().slice(0, 200) }];
    }
  }
  const errors = isRecord(parsed) && Array.isArray(parsed.Errors) ? parsed.Errors : [];
  return errors.map((error: unknown) => ({
    opIndex: isRecord(error) && typeof error.OpIndex === "number" ? error.OpIndex : -1,
    what: isRecord(error) && typeof error.What === "string" ? error.What : "no detail",
  }));
}
