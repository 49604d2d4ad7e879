/**
 * The server's token file: a JSON array of `{ "name", "role", "sha256" }`, one entry per operator
 * or node token. It holds SHA-256 digests only, never a token, so reading it does not let anyone
 * call sanpathd. `sanpath token create` makes a token and the entry to add.
 *   [ { "name": "alice", "role": "viewer", "sha256": "9f86d0…" },
 *     { "name": "node-1", "role": "node", "sha256": "2c26b4…" } ]
 */
import { createHash, randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { SanpathError } from "../errors/sanpath-error.js";
import { writeFileAtomically } from "../util/atomic-file.js";
import { readTextFile } from "../util/text-file.js";
import { isRole, ROLES, type Role } from "./roles.js";

export interface TokenEntry {
  readonly name: string;
  readonly role: Role;
  /** Lower-case hex SHA-256 of the token's UTF-8 bytes. */
  readonly sha256: string;
}

/** Every token starts with this, so a leaked one is easy to recognise (and grep for). */
export const TOKEN_PREFIX = "spt_";
const TOKEN_PATTERN = /^spt_[A-Za-z0-9_-]{43}$/;
export const CALLER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/;
export const CALLER_NAME_RULE = "must be 1..64 of A-Z a-z 0-9 _ . @ - starting with a letter or digit";
const SHA256_HEX = /^[0-9a-f]{64}$/;

/** A new random token: "spt_" + 32 random bytes in base64url (256 bits). */
export function generateToken(): string {
  return `${TOKEN_PREFIX}${randomBytes(32).toString("base64url")}`;
}

export function isWellFormedToken(token: string): boolean {
  return TOKEN_PATTERN.test(token);
}

export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** The entry of a new token, checked. */
export function tokenEntry(name: string, role: string, token: string): TokenEntry {
  if (!CALLER_NAME.test(name))
    throw tokenFileError("name", `${CALLER_NAME_RULE} (got ${JSON.stringify(name)})`);
  if (!isRole(role))
    throw tokenFileError("role", `must be one of ${ROLES.join(", ")} (got ${JSON.stringify(role)})`);
  return { name, role, sha256: hashToken(token) };
}

/** Parses and checks a token file's text; the error names the entry and field at fault. */
export function parseTokenFile(text: string, file: string): TokenEntry[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw tokenFileError(
      file,
      `must be valid JSON (${error instanceof Error ? error.message : String(error)})`,
    );
  }
  if (!Array.isArray(parsed)) throw tokenFileError(file, "must hold a JSON array of { name, role, sha256 }");
  const entries: TokenEntry[] = [];
  const names = new Set<string>();
  const digests = new Set<string>();
  parsed.forEach((item: unknown, index) => {
    const at = `${file}[${index}]`;
    if (typeof item !== "object" || item === null || Array.isArray(item))
      throw tokenFileError(at, "must be an object { name, role, sha256 }");
    const { name, role, sha256, ...rest } = item as Record<string, unknown>;
    const unknown = Object.keys(rest)[0];
    if (unknown !== undefined)
      throw tokenFileError(`${at}.${unknown}`, "is not a known field (name, role, sha256)");
    if (typeof name !== "string" || !CALLER_NAME.test(name))
      throw tokenFileError(`${at}.name`, CALLER_NAME_RULE);
    if (!isRole(role)) throw tokenFileError(`${at}.role`, `must be one of ${ROLES.join(", ")}`);
    if (typeof sha256 !== "string" || !SHA256_HEX.test(sha256))
      throw tokenFileError(
        `${at}.sha256`,
        "must be 64 lower-case hex digits (the token's SHA-256, not the token)",
      );
    if (names.has(name)) throw tokenFileError(`${at}.name`, `must be unique (${name} is listed twice)`);
    if (digests.has(sha256)) throw tokenFileError(`${at}.sha256`, "must be unique (one token listed twice)");
    names.add(name);
    digests.add(sha256);
    entries.push({ name, role, sha256 });
  });
  return entries;
}

export async function readTokenFile(path: string): Promise<TokenEntry[]> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "error";
    throw new SanpathError("failed_precondition", `token file ${path} cannot be read (${code})`, {
      cause: error,
    });
  }
  return parseTokenFile(text, path);
}

/** Adds `entry` to the token file at `path` (made, mode 0600, when missing); a taken name is refused. */
export async function addToTokenFile(path: string, entry: TokenEntry): Promise<void> {
  const text = await readTextFile(path);
  const entries = text === undefined ? [] : parseTokenFile(text, path);
  if (entries.some((existing) => existing.name === entry.name))
    throw tokenFileError("name", `${entry.name} is in ${path} already (names are unique)`, "already_exists");
  await writeFileAtomically(path, formatTokenFile([...entries, entry]));
}

/** One entry per line, so diffs of the file stay readable. */
export function formatTokenFile(entries: readonly TokenEntry[]): string {
  return `[\n${entries.map((entry) => `  ${JSON.stringify(entry)}`).join(",\n")}\n]\n`;
}

function tokenFileError(
  field: string,
  rule: string,
  kind: "invalid_argument" | "already_exists" = "invalid_argument",
): SanpathError {
  return new SanpathError(kind, `${field} ${rule}`, { reason: "INVALID_FIELD", field });
}
