/**
 * Where disk images live, as domain code sees it. Two adapters implement it: `rbd` (Ceph, through
 * the librbd addon in native/) and `file` (sparse files in a data directory). Every failure is a
 * SanpathError: invalid_argument (names, sizes; SHRINK_REFUSED), already_exists (DISK_EXISTS),
 * not_found (DISK_NOT_FOUND), failed_precondition (image in use), unavailable (CEPH_UNAVAILABLE),
 * data_loss (METADATA_UNREADABLE), cancelled, internal.
 */

/** PetaSAN's image metadata key for the disk record (sic: "metada"). */
export const DISK_RECORD_METADATA_KEY = "petasan-metada";

export type ImageStoreKind = "rbd" | "file";

export interface ImageInfo {
  name: string;
  sizeBytes: number;
}

/** What an iSCSI target needs to back a LUN with the image. */
export type ImageBacking =
  | {
      kind: "rbd";
      pool: string;
      image: string;
      /** The ceph.conf tgtd should read (`--bsopts conf=...`), when the store was opened with one. */
      confPath?: string;
      /** Ceph client id without "client." (`--bsopts id=...`). */
      userId: string;
    }
  | { kind: "file"; path: string };

export interface StoreCallOptions {
  /**
   * Checked before the call starts: an aborted signal rejects with `cancelled` and changes nothing.
   * A call already handed to Ceph or the file system runs to its end (bounded by the store's timeouts).
   */
  signal?: AbortSignal;
}

export interface ImageStore {
  readonly kind: ImageStoreKind;
  /**
   * The largest image this store can hold, in bytes (the file store: what its file system takes;
   * rbd: any size exact in a number). create and grow refuse more with invalid_argument.
   */
  readonly maxSizeBytes: number;
  /** A new image of `sizeBytes` (thin / sparse). Exists already → already_exists (DISK_EXISTS). */
  create(name: string, sizeBytes: number, options?: StoreCallOptions): Promise<void>;
  stat(name: string, options?: StoreCallOptions): Promise<ImageInfo>;
  /**
   * Grows the image to `newSizeBytes`; the same size is a no-op. Smaller → invalid_argument,
   * reason SHRINK_REFUSED, field "size_gib"; nothing changes.
   */
  grow(name: string, newSizeBytes: number, options?: StoreCallOptions): Promise<void>;
  /** Missing → not_found (DISK_NOT_FOUND); open elsewhere (rbd watchers) → failed_precondition. */
  remove(name: string, options?: StoreCallOptions): Promise<void>;
  /** Every image name in the store (not only sanpath's), sorted. */
  list(options?: StoreCallOptions): Promise<string[]>;
  /** The disk record JSON under `petasan-metada`; undefined when the image has none. */
  readMetadata(name: string, options?: StoreCallOptions): Promise<string | undefined>;
  writeMetadata(name: string, json: string, options?: StoreCallOptions): Promise<void>;
  getMeta(name: string, key: string, options?: StoreCallOptions): Promise<string | undefined>;
  setMeta(name: string, key: string, value: string, options?: StoreCallOptions): Promise<void>;
  /** Whether the key existed. */
  removeMeta(name: string, key: string, options?: StoreCallOptions): Promise<boolean>;
  listMeta(name: string, options?: StoreCallOptions): Promise<Record<string, string>>;
  /** How a target backs a LUN with this image (no I/O; the image need not exist). */
  backingFor(name: string): ImageBacking;
  /** Waits for calls in flight, then releases the store; later calls fail with `unavailable`. */
  close(): Promise<void>;
}
