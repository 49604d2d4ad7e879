import { invalidField } from "../errors/sanpath-error.js";
import { GIB } from "./disk.js";
import type { DiskImages } from "./disk-images.js";
import { MAX_DISK_SIZE_GIB } from "./disk-request.js";

/**
 * Refuses a size the request rules allow but the image store cannot hold (a file store on ext4
 * takes 16 TiB), before anything is reserved or changed. Sizes the request rules refuse are left
 * to them, so their message wins.
 */
export function refuseSizeAboveStore(
  sizeGib: number | undefined,
  images: DiskImages,
  field = "size_gib",
): void {
  if (sizeGib === undefined || !Number.isSafeInteger(sizeGib) || sizeGib < 1 || sizeGib > MAX_DISK_SIZE_GIB)
    return;
  const maxGib = Math.floor(images.maxSizeBytes / GIB);
  if (sizeGib > maxGib) {
    throw invalidField(
      field,
      `${sizeGib} GiB is above the largest image the ${images.kind} image store can hold, ${maxGib} GiB`,
    );
  }
}
