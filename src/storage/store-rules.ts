import { SanpathError, invalidField } from "../errors/sanpath-error.js";

/**
 * The names, keys and sizes both image stores accept, so that a disk that works on one store
 * works on the other.
 */

export const MAX_IMAGE_NAME_BYTES = 200;
export const MAX_METADATA_KEY_BYTES = 200;

// No '/' or '@' (rbd image specs are pool/image@snap), no NUL or other control characters.
// eslint-disable-next-line no-control-regex
const FORBIDDEN_NAME_CHARACTERS = /[/@\u0000-\u001f\u007f]/u;
// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/u;

/** No lone surrogates: the text survives the trip to UTF-8 (librbd, file names) and back. */
function isWellFormedUnicode(text: string): boolean {
  return Buffer.from(text, "utf8").toString("utf8") === text;
}

/**
 * An image name: 1..200 UTF-8 bytes, no '/', '@' or control characters, not starting with '.'
 * or '-' (no hidden or temp files, nothing that reads as a command-line flag). Any other Unicode
 * is fine ("Datenträger-数据").
 */
export function validateImageName(name: string, field = "image_name"): string {
  if (name.length === 0) throw invalidField(field, "an image name must not be empty");
  if (Buffer.byteLength(name, "utf8") > MAX_IMAGE_NAME_BYTES) {
    throw invalidField(field, `an image name is at most ${MAX_IMAGE_NAME_BYTES} bytes (UTF-8)`);
  }
  if (FORBIDDEN_NAME_CHARACTERS.test(name)) {
    throw invalidField(field, `"${name}" must not contain '/', '@' or control characters`);
  }
  if (name.startsWith(".") || name.startsWith("-")) {
    throw invalidField(field, `"${name}" must not start with '.' or '-'`);
  }
  if (!isWellFormedUnicode(name)) throw invalidField(field, "an image name must be well-formed Unicode");
  return name;
}

/** A metadata key: 1..200 UTF-8 bytes without control characters. */
export function validateMetadataKey(key: string, field = "metadata_key"): string {
  if (key.length === 0) throw invalidField(field, "a metadata key must not be empty");
  if (Buffer.byteLength(key, "utf8") > MAX_METADATA_KEY_BYTES) {
    throw invalidField(field, `a metadata key is at most ${MAX_METADATA_KEY_BYTES} bytes (UTF-8)`);
  }
  if (CONTROL_CHARACTERS.test(key))
    throw invalidField(field, "a metadata key must not contain control characters");
  if (!isWellFormedUnicode(key)) throw invalidField(field, "a metadata key must be well-formed Unicode");
  return key;
}

/** A metadata value: any well-formed text without NUL (librbd stores C strings). */
export function validateMetadataValue(value: string, field = "metadata_value"): string {
  if (value.includes("\u0000")) throw invalidField(field, "a metadata value must not contain NUL");
  if (!isWellFormedUnicode(value)) throw invalidField(field, "a metadata value must be well-formed Unicode");
  return value;
}

/** An image size: a whole number of bytes, > 0, exact in a JavaScript number (< 2^53). */
export function validateSizeBytes(sizeBytes: number, field = "size_bytes"): number {
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes <= 0) {
    throw invalidField(field, `must be a whole number of bytes > 0 and < 2^53, got ${sizeBytes}`);
  }
  return sizeBytes;
}

/** invalid_argument when `sizeBytes` is above what the store can hold (`maxSizeBytes`). */
export function validateStoreLimit(
  kind: string,
  sizeBytes: number,
  maxSizeBytes: number,
  field = "size_bytes",
): number {
  if (sizeBytes > maxSizeBytes) {
    throw invalidField(
      field,
      `${sizeBytes} bytes is above the largest image the ${kind} image store can hold, ${maxSizeBytes} bytes`,
    );
  }
  return sizeBytes;
}

export function shrinkRefused(name: string, currentBytes: number, requestedBytes: number): SanpathError {
  return new SanpathError(
    "invalid_argument",
    `size_gib: image ${name} can only grow: it has ${currentBytes} bytes, ${requestedBytes} were requested`,
    { reason: "SHRINK_REFUSED", field: "size_gib" },
  );
}

/** Rejects with `cancelled` when the caller gave up before the call started. */
export function throwIfCancelled(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted === true) {
    throw new SanpathError("cancelled", `${what} was cancelled before it started`, {
      cause: signal.reason,
    });
  }
}

export function storeClosed(kind: string, what: string): SanpathError {
  return new SanpathError("unavailable", `${what}: the ${kind} image store is closed`);
}
