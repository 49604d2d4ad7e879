/**
 * Reading proto3-JSON safely. The server omits fields that hold their default value (empty string,
 * 0, false, empty list, unset message), so every reader here returns the default for a missing
 * field instead of failing.
 */

export type JsonObject = Readonly<Record<string, unknown>>;

const EMPTY: JsonObject = Object.freeze({});

/** The value as an object, or an empty object for anything else (null, arrays, scalars). */
export function asObject(value: unknown): JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as JsonObject) : EMPTY;
}

export function stringField(object: JsonObject, key: string): string {
  const value = object[key];
  return typeof value === "string" ? value : "";
}

/** uint32 and uint64 arrive as numbers; a uint64 written as a decimal string is accepted too. */
export function numberField(object: JsonObject, key: string): number {
  const value = object[key];
  if (typeof value === "number" && Number.isFinite(value)) return value;
  if (typeof value === "string" && /^-?\d+(\.\d+)?$/.test(value)) return Number(value);
  return 0;
}

export function booleanField(object: JsonObject, key: string): boolean {
  return object[key] === true;
}

export function arrayField(object: JsonObject, key: string): readonly unknown[] {
  const value = object[key];
  return Array.isArray(value) ? (value as unknown[]) : [];
}

export function stringArrayField(object: JsonObject, key: string): string[] {
  return arrayField(object, key).filter((item): item is string => typeof item === "string");
}

export function numberArrayField(object: JsonObject, key: string): number[] {
  return arrayField(object, key).filter((item): item is number => typeof item === "number");
}

/** A nested message, or undefined when unset. */
export function objectField(object: JsonObject, key: string): JsonObject | undefined {
  const value = object[key];
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as JsonObject)
    : undefined;
}
