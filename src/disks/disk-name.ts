import { invalidField } from "../errors/sanpath-error.js";
import { isDiskId } from "./disk-id.js";
import { dataMissing } from "./domain-errors.js";

/**
 * Disk names: 1..64 ASCII letters, digits, '.', '_', '-' and spaces; no space or '.' first or
 * last, no "..", and not 5 digits (GetDisk takes "an id or a name", so a name must never read as
 * an id). Names are unique without regard to case: see diskNameKey. A new name (AddDisk, a
 * rename) must not start with '-' either: the CLI would read it as an option. Disks named so
 * before this rule can still be addressed by that name.
 */

export const MAX_DISK_NAME_LENGTH = 64;

const DISK_NAME_CHARACTERS = /^[A-Za-z0-9._ -]+$/;

export function diskNameProblem(name: string): string | undefined {
  if (name.length > MAX_DISK_NAME_LENGTH) {
    return `is ${name.length} characters long; a disk name is at most ${MAX_DISK_NAME_LENGTH}`;
  }
  if (!DISK_NAME_CHARACTERS.test(name)) {
    return "may contain only ASCII letters, digits, '.', '_', '-' and spaces";
  }
  if (/^[ .]|[ .]$/.test(name)) return "must not start or end with a space or '.'";
  if (name.includes("..")) return `must not contain ".."`;
  if (/^[0-9]{5}$/.test(name)) return `"${name}" looks like a disk id (5 digits); add a letter`;
  return undefined;
}

export function validateDiskName(name: string, field = "name"): string {
  if (name.length === 0) throw dataMissing(field, "the disk name");
  const problem = diskNameProblem(name);
  if (problem !== undefined) throw invalidField(field, problem);
  if (name.startsWith("-")) {
    throw invalidField(field, `"${name}" must not start with '-': command lines would read it as an option`);
  }
  return name;
}

/** The key names are unique under: "Backup Disk" and "backup disk" cannot both exist. */
export function diskNameKey(name: string): string {
  return name.toLowerCase();
}

/** What a request's `disk` field names: an id when it is 5 digits, else a name. */
export type DiskRef =
  { readonly kind: "id"; readonly id: string } | { readonly kind: "name"; readonly name: string };

export function parseDiskRef(text: string, field = "disk"): DiskRef {
  if (text.length === 0) throw dataMissing(field, "the disk id or name");
  if (isDiskId(text)) return { kind: "id", id: text };
  if (/^[0-9]{5}$/.test(text)) {
    throw invalidField(field, `"${text}" is not a disk id: ids run from 00001 to 99999`);
  }
  const problem = diskNameProblem(text);
  if (problem !== undefined) {
    throw invalidField(
      field,
      `"${text}" is neither a disk id (5 digits) nor a disk name: the name ${problem}`,
    );
  }
  return { kind: "name", name: text };
}
