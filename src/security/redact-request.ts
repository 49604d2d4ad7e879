/** Field names whose values are credentials: CHAP secrets, passwords, tokens. */
const SECRET_KEY = /secret|password|passwd|token|authorization|private.?key/i;
export const REDACTED_VALUE = "[redacted]";

const MAX_STRING = 256;
const MAX_ITEMS = 64;
const MAX_DEPTH = 8;

/**
 * A copy of a request that is safe to write to the audit log: credential fields replaced by
 * "[redacted]", long strings and arrays cut (a hostile 1 MB name stays a short line), Dates as ISO
 * text, bytes as their length.
 */
export function redactRequest(value: unknown): unknown {
  return redact(value, 0);
}

function redact(value: unknown, depth: number): unknown {
  if (typeof value === "string") return shorten(value);
  if (value === null || typeof value !== "object")
    return typeof value === "bigint" ? value.toString() : value;
  if (depth >= MAX_DEPTH) return "[nested too deep]";
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? "[invalid date]" : value.toISOString();
  if (value instanceof Uint8Array) return `[${value.byteLength} bytes]`;
  if (Array.isArray(value)) {
    const items = value.slice(0, MAX_ITEMS).map((item: unknown) => redact(item, depth + 1));
    if (value.length > MAX_ITEMS) items.push(`[${value.length - MAX_ITEMS} more items]`);
    return items;
  }
  const copy: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) {
    copy[key] =
      SECRET_KEY.test(key) && field !== undefined && field !== "" ? REDACTED_VALUE : redact(field, depth + 1);
  }
  return copy;
}

function shorten(text: string): string {
  return text.length <= MAX_STRING ? text : `${text.slice(0, 64)}…[${text.length} characters]`;
}
