import { SanpathError } from "./sanpath-error.js";

/**
 * Reading the JSON records sanpath keeps in Consul (jobs, path and node records, allocations).
 * Whatever is malformed is DATA_LOSS / METADATA_UNREADABLE, naming the record and the rule.
 */
export function unreadable(what: string, rule: string, cause?: unknown): SanpathError {
  return new SanpathError("data_loss", `${what} is unreadable: ${rule}`, {
    reason: "METADATA_UNREADABLE",
    cause,
  });
}

/** The text parsed as a JSON object (not an array, not null). */
export function parseJsonObject(text: string, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw unreadable(what, "not JSON", error);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw unreadable(what, "not a JSON object");
  }
  return value as Record<string, unknown>;
}

/** Typed reads of a record's fields; a field of the wrong type is `unreadable`, naming it. */
export class FieldReader {
  constructor(
    private readonly record: Record<string, unknown>,
    private readonly what: string,
  ) {}

  text(field: string, allowEmpty = true): string {
    const value = this.record[field];
    if (typeof value !== "string" || (!allowEmpty && value === "")) {
      throw unreadable(this.what, `${field} must be text`);
    }
    return value;
  }

  optionalText(field: string): string | undefined {
    const value = this.record[field];
    if (value === undefined || value === null) return undefined;
    return this.text(field);
  }

  count(field: string): number {
    const value = this.record[field];
    if (typeof value !== "number" || !Number.isSafeInteger(value) || value < 0) {
      throw unreadable(this.what, `${field} must be a whole number`);
    }
    return value;
  }

  time(field: string): Date {
    const date = new Date(this.text(field));
    if (Number.isNaN(date.getTime())) throw unreadable(this.what, `${field} must be an ISO 8601 time`);
    return date;
  }

  optionalTime(field: string): Date | undefined {
    return this.record[field] === undefined ? undefined : this.time(field);
  }

  oneOf<T extends string>(field: string, allowed: readonly T[]): T {
    const value = this.text(field);
    if (!(allowed as readonly string[]).includes(value)) {
      throw unreadable(this.what, `${field} must be one of ${allowed.join(", ")}`);
    }
    return value as T;
  }

  object(field: string): FieldReader {
    const value = this.record[field];
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw unreadable(this.what, `${field} must be an object`);
    }
    return new FieldReader(value as Record<string, unknown>, `${this.what} ${field}`);
  }
}
