import { UsageError } from "../errors.js";

const GIB_PER_UNIT: Readonly<Record<string, number>> = { g: 1, t: 1024, p: 1024 * 1024 };

/**
 * A disk size in whole GiB from "100G", "100GiB", "1T", "1.5T", "2P" or a bare number of GiB
 * ("512"). Units are binary (1T = 1024 GiB), case does not matter; anything that is not a
 * positive whole number of GiB is a UsageError naming `option`.
 */
export function parseSizeGib(text: string, option = "--size"): number {
  const match = /^(\d+(?:\.\d+)?)\s*(?:([gtp])(?:i?b)?)?$/i.exec(text.trim());
  const amount = match?.[1];
  if (match === null || amount === undefined) {
    throw new UsageError(
      `${option} must be a size in GiB like 100G, 1T, 1.5T or 512 (a bare number is GiB); got ${JSON.stringify(text)}`,
    );
  }
  const unit = (match[2] ?? "g").toLowerCase();
  const gib = Number(amount) * (GIB_PER_UNIT[unit] ?? 1);
  if (!Number.isSafeInteger(gib) || gib < 1) {
    throw new UsageError(
      `${option} must come to a positive whole number of GiB; ${JSON.stringify(text)} is ${gib} GiB`,
    );
  }
  return gib;
}

/** "100G", "1T" when a whole number of TiB, "1536G" otherwise. */
export function formatSizeGib(gib: number): string {
  if (gib >= 1024 * 1024 && gib % (1024 * 1024) === 0) return `${gib / (1024 * 1024)}P`;
  if (gib >= 1024 && gib % 1024 === 0) return `${gib / 1024}T`;
  return `${gib}G`;
}
