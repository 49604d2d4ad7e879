import { SanpathError } from "../errors/sanpath-error.js";
import type { ClusterSettings } from "./cluster-settings.js";
import type { Disk } from "./disk.js";
import { diskIdFromImageName } from "./disk-id.js";
import { parseDiskMetadata } from "./disk-metadata.js";
import { diskNameProblem } from "./disk-name.js";

/** A disk found in a pool whose record could be registered as it is. */
export interface ImportCandidate {
  readonly image: string;
  readonly disk: Disk;
}

/** Why an image's record cannot be imported, naming the field and the rule. */
export interface ImportProblem {
  readonly image: string;
  /** The id from the image name, and the name when the record got that far. */
  readonly id: string;
  readonly name: string;
  readonly field: string;
  readonly problem: string;
}

/**
 * Checks the disk record of image `image` of `pool` for an import: it must parse (every field a
 * disk needs, of the right type; paths in the configured iSCSI subnets), name the image's own id,
 * have a name sanpath can address (a detached PetaSAN disk has none), at least one path, and no
 * address twice. Undefined `text`: the image has no record (not a disk, or one being made).
 */
export function checkImportCandidate(
  image: string,
  pool: string,
  text: string | undefined,
  settings: ClusterSettings,
): ImportCandidate | ImportProblem {
  const imageId = diskIdFromImageName(image) ?? "";
  const problem = (field: string, rule: string, name = ""): ImportProblem => ({
    image,
    id: imageId,
    name,
    field,
    problem: rule,
  });
  if (text === undefined) {
    return problem("petasan-metada", "the image has no disk record (not a disk, or one still being made)");
  }
  let disk: Disk;
  try {
    disk = parseDiskMetadata(text, { image: `${pool}/${image}`, pool, settings }).disk;
  } catch (error) {
    if (!(error instanceof SanpathError)) throw error;
    return problem(error.field ?? "petasan-metada", error.message);
  }
  if (disk.id !== imageId) {
    return problem("id", `the record says ${disk.id}, but the image is ${image}`, disk.name);
  }
  if (disk.name === "") {
    return problem("disk_name", "is empty (a detached disk): give it a name in PetaSAN first");
  }
  const nameProblem = diskNameProblem(disk.name);
  if (nameProblem !== undefined) {
    return problem("disk_name", `${nameProblem}; sanpath could not address it`, disk.name);
  }
  if (disk.paths.length === 0) return problem("paths", "is empty: a disk needs at least one path", disk.name);
  const seen = new Map<string, number>();
  for (const [position, path] of disk.paths.entries()) {
    const first = seen.get(path.ip);
    if (first !== undefined) {
      return problem(`paths[${position}].ip`, `${path.ip} is paths[${first}].ip too`, disk.name);
    }
    seen.set(path.ip, position);
  }
  if (disk.pool !== pool) {
    return problem("pool", `the record says ${disk.pool}, but the image is in pool ${pool}`, disk.name);
  }
  return { image, disk };
}

export function isImportProblem(result: ImportCandidate | ImportProblem): result is ImportProblem {
  return "problem" in result;
}
