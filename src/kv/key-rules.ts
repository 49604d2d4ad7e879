import { invalidField } from "../errors/sanpath-error.js";
import type { KvOperation } from "./kv-store.js";

/** Keys are relative ("PetaSAN/Disks/00001"): no leading slash, not empty. */
export function checkKey(key: string, field = "key"): void {
  if (key === "") throw invalidField(field, "must not be empty");
  checkPrefix(key, field);
}

export function checkPrefix(prefix: string, field = "prefix"): void {
  if (prefix.startsWith("/")) throw invalidField(field, `must not start with "/", got "${prefix}"`);
}

/** An index, CAS index or flags value: a whole number >= 0. */
export function checkIndex(field: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw invalidField(field, "must be a whole number >= 0");
  }
}

/** The numbers a write may carry (put, delete, acquire): unchecked, a bad one reaches Consul as a 500. */
export function checkWriteOptions(options: { cas?: number | undefined; flags?: number | undefined }): void {
  if (options.cas !== undefined) checkIndex("cas", options.cas);
  if (options.flags !== undefined) checkIndex("flags", options.flags);
}

/** The longest a blocking read may wait (Consul's limit). */
export const MAX_WAIT_SECONDS = 600;

export function checkWaitSeconds(wait: number): void {
  if (!Number.isInteger(wait) || wait < 1 || wait > MAX_WAIT_SECONDS) {
    throw invalidField("waitSeconds", `must be a whole number of seconds in 1..${MAX_WAIT_SECONDS}`);
  }
}

/** A blocking answer's next index: backwards = reset to 0; never below 1 otherwise (Consul's docs). */
export function nextBlockingIndex(previous: number, answered: number): { index: number; reset: boolean } {
  if (answered < previous) return { index: 0, reset: true };
  return { index: Math.max(answered, 1), reset: false };
}

/** The rules every store applies to operation `index` of a transaction; INVALID_FIELD naming the field. */
export function checkKvOperation(operation: KvOperation, index: number): void {
  checkKey(operation.key, `operations[${index}].key`);
  switch (operation.verb) {
    case "set":
    case "cas":
    case "lock":
    case "unlock":
      if (operation.flags !== undefined) checkIndex(`operations[${index}].flags`, operation.flags);
      break;
    default:
      break;
  }
  switch (operation.verb) {
    case "cas":
    case "delete-cas":
    case "check-index":
      checkIndex(`operations[${index}].index`, operation.index);
      break;
    case "check-session":
    case "lock":
    case "unlock":
      if (operation.session === "") throw invalidField(`operations[${index}].session`, "must not be empty");
      break;
    default:
      break;
  }
}
