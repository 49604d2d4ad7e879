/** Numbers in [0, 1) from a seed: the same seed gives the same sequence (property tests, benches). */
export type Random = () => number;

/** mulberry32: a tiny, well-distributed 32-bit PRNG. */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A whole number in 0 .. n - 1. */
export function below(random: Random, n: number): number {
  return Math.floor(random() * n);
}

/** One of `items` (not empty). */
export function pick<T>(random: Random, items: readonly T[]): T {
  const item = items[below(random, items.length)];
  if (item === undefined) throw new Error("pick from an empty list");
  return item;
}

/** A shuffled copy of `items` (Fisher–Yates). */
export function shuffled<T>(random: Random, items: readonly T[]): T[] {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = below(random, i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}
