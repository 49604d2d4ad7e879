import { invalidField } from "../errors/sanpath-error.js";

/**
 * iSCSI names after RFC 3720 §3.2.6 / RFC 3721 / RFC 3980:
 * - `iqn.YYYY-MM.<reversed domain>[:<anything>]`, lowercase letters, digits, '.', '-', ':' only
 *   (the RFC 3722 stringprep profile maps names to lowercase, and targets compare names byte for
 *   byte, so an uppercase name is refused rather than silently changed);
 * - `eui.` + 16 hex digits; `naa.` + 16 or 32 hex digits;
 * - at most 223 bytes.
 * Non-ASCII characters, which the RFC allows after normalization, are refused: no common target
 * or initiator tool handles them consistently.
 */

export const MAX_ISCSI_NAME_BYTES = 223;

const DOMAIN_LABEL = "[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?";
const IQN_PATTERN = new RegExp(
  `^iqn\\.[0-9]{4}-(?:0[1-9]|1[0-2])\\.${DOMAIN_LABEL}(?:\\.${DOMAIN_LABEL})*(?::[a-z0-9.:-]+)?$`,
);
const EUI_PATTERN = /^eui\.[0-9a-f]{16}$/i;
const NAA_PATTERN = /^naa\.(?:[0-9a-f]{16}|[0-9a-f]{32})$/i;

const IQN_SHAPE =
  "an iqn name is \"iqn.YYYY-MM.reversed.domain[:unique]\" with lowercase letters, digits, '.', '-' and ':' only";

function byteLength(text: string): number {
  return new TextEncoder().encode(text).length;
}

/** Why `name` is not a valid iqn-type name, or undefined when it is. */
function iqnProblem(name: string): string | undefined {
  if (IQN_PATTERN.test(name)) return undefined;
  if (name !== name.toLowerCase() && IQN_PATTERN.test(name.toLowerCase())) {
    return `"${name}" has uppercase letters; iSCSI names are lowercase (RFC 3722): "${name.toLowerCase()}"`;
  }
  return `"${name}" is not valid: ${IQN_SHAPE}`;
}

/** Why `name` is not a valid iSCSI name of any type, or undefined when it is. */
export function iscsiNameProblem(name: string): string | undefined {
  if (name.length === 0) return "must not be empty";
  if (byteLength(name) > MAX_ISCSI_NAME_BYTES) {
    return `is ${byteLength(name)} bytes long; iSCSI names are at most ${MAX_ISCSI_NAME_BYTES} bytes`;
  }
  const type = name.slice(0, 4);
  if (type === "iqn.") return iqnProblem(name);
  if (type === "eui.") {
    return EUI_PATTERN.test(name)
      ? undefined
      : `"${name}" is not valid: an eui name is "eui." + 16 hex digits`;
  }
  if (type === "naa.") {
    return NAA_PATTERN.test(name)
      ? undefined
      : `"${name}" is not valid: an naa name is "naa." + 16 or 32 hex digits`;
  }
  if (["iqn.", "eui.", "naa."].includes(type.toLowerCase())) {
    return `"${name}" has an uppercase type; the type prefix is lowercase "${type.toLowerCase()}"`;
  }
  return `"${name}" is not an iSCSI name: it starts with "iqn.", "eui." or "naa."`;
}

/** Throws INVALID_FIELD naming `field` when `name` is not a valid initiator (or target) iSCSI name. */
export function validateIscsiName(name: string, field: string): string {
  const problem = iscsiNameProblem(name);
  if (problem !== undefined) throw invalidField(field, problem);
  return name;
}

/**
 * Why `base` cannot be the IQN base of the cluster, or undefined when it can: it must be an
 * iqn-type name that stays within 223 bytes once ":<5-digit disk id>" is appended.
 */
export function iqnBaseProblem(base: string): string | undefined {
  if (!base.startsWith("iqn.")) {
    return `"${base}" is not an iqn name: ${IQN_SHAPE}`;
  }
  const longest = `${base}:00000`;
  if (byteLength(longest) > MAX_ISCSI_NAME_BYTES) {
    return `is too long: a disk IQN "<base>:<5-digit id>" must fit in ${MAX_ISCSI_NAME_BYTES} bytes, so the base is at most ${MAX_ISCSI_NAME_BYTES - 6} bytes`;
  }
  return iqnProblem(base);
}
