import type { ImageStore } from "../storage/image-store.js";

/** Where the images of each pool live. */
export interface DiskImages {
  readonly kind: ImageStore["kind"];
  /** The largest image the store can hold, in bytes (the same in every pool). */
  readonly maxSizeBytes: number;
  /** The store of `pool` (rbd: that Ceph pool on the shared connection; file: the one data folder). */
  forPool(pool: string): ImageStore;
}

interface PoolScopedStore extends ImageStore {
  withPool(pool: string): ImageStore;
  readonly pool: string;
}

function isPoolScoped(store: ImageStore): store is PoolScopedStore {
  return "withPool" in store && typeof store.withPool === "function";
}

/**
 * Pools over one opened store. An rbd store serves every pool of its cluster through `withPool`;
 * the file store has no pools (disk ids are unique across pools, so image names never collide).
 */
export function diskImagesOver(store: ImageStore): DiskImages {
  const byPool = new Map<string, ImageStore>();
  return {
    kind: store.kind,
    maxSizeBytes: store.maxSizeBytes,
    forPool(pool) {
      if (!isPoolScoped(store) || pool === store.pool) return store;
      let scoped = byPool.get(pool);
      if (scoped === undefined) {
        scoped = store.withPool(pool);
        byPool.set(pool, scoped);
      }
      return scoped;
    },
  };
}
