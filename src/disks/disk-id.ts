import { SanpathError } from "../errors/sanpath-error.js";

/** Disk ids are 5-digit numbers, "00001".."99999", as in PetaSAN. */
export const DISK_ID_DIGITS = 5;
export const MAX_DISK_NUMBER = 99_999;
export const IMAGE_NAME_PREFIX = "image-";

const DISK_ID_PATTERN = /^[0-9]{5}$/;

export function isDiskId(text: string): boolean {
  return DISK_ID_PATTERN.test(text) && text !== "00000";
}

export function formatDiskId(number: number): string {
  if (!Number.isInteger(number) || number < 1 || number > MAX_DISK_NUMBER) {
    throw new RangeError(`not a disk number: ${number}`);
  }
  return String(number).padStart(DISK_ID_DIGITS, "0");
}

/**
 * The lowest id not in use ("00001" first). Linear in the number of used ids below the answer;
 * `isUsed` is expected to be a set lookup. Throws RESOURCE_EXHAUSTED when all 99,999 are taken.
 */
export function nextFreeDiskId(isUsed: (id: string) => boolean): string {
  for (let number = 1; number <= MAX_DISK_NUMBER; number++) {
    const id = formatDiskId(number);
    if (!isUsed(id)) return id;
  }
  throw new SanpathError(
    "resource_exhausted",
    `every disk id 00001..${MAX_DISK_NUMBER} is in use; delete a disk to free one`,
  );
}

/** The target IQN of a disk: "<iqn base>:<id>". */
export function diskIqn(iqnBase: string, id: string): string {
  return `${iqnBase}:${id}`;
}

/** The RBD image of a disk: "image-<id>". */
export function diskImageName(id: string): string {
  return `${IMAGE_NAME_PREFIX}${id}`;
}

/** The disk id of an image named "image-<id>", or undefined for any other image. */
export function diskIdFromImageName(imageName: string): string | undefined {
  if (!imageName.startsWith(IMAGE_NAME_PREFIX)) return undefined;
  const id = imageName.slice(IMAGE_NAME_PREFIX.length);
  return isDiskId(id) ? id : undefined;
}
