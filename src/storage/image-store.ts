/**
 * Where disk images live, as domain code sees it. Two adapters implement it: `rbd` (Ceph, through
 * the librbd addon in native/) and `file` (sparse files in a data directory). Every failure is a
 * SanpathError: invalid_argument (names, sizes; SHRINK_REFUSED), already_exists (DISK_EXISTS),
 * not_found (DISK_NOT_FOUND), failed_precondition (image in use), unavailable (CEPH_UNAVAILABLE),
 * data_loss (METADATA_UNREADABLE), cancelled, internal.
 */

/**
 * PetaSAN's key for the disk record (sic: "metada"): the name of the rbd image-meta entry sanpath
 * writes, and of the xattr of the image's RBD header object where PetaSAN 1.x writes it
 * (`io_ctx.set_xattr(rbd_header.<id>, "petasan-metada", ...)`).
 */
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
  /**
   * The disk record JSON under `petasan-metada`: the image-meta entry when there is one (image-meta
   * wins: sanpath writes it there), otherwise the header xattr of that name (where PetaSAN 1.x
   * writes it); undefined when the image has neither.
   */
  readMetadata(name: string, options?: StoreCallOptions): Promise<string | undefined>;
  /** Writes the disk record as the image-meta entry `petasan-metada` (never the header xattr). */
  writeMetadata(name: string, json: string, options?: StoreCallOptions): Promise<void>;
  getMeta(name: string, key: string, options?: StoreCallOptions): Promise<string | undefined>;
  setMeta(name: string, key: string, value: string, options?: StoreCallOptions): Promise<void>;
  /** Whether the key existed. */
  removeMeta(name: string, key: string, options?: StoreCallOptions): Promise<boolean>;
  listMeta(name: string, options?: StoreCallOptions): Promise<Record<string, string>>;
  /**
   * An xattr of the image's header object, apart from image-meta: PetaSAN's place for the disk
   * record (rbd: `rados getxattr rbd_header.<id> <key>`; file: a map of its own in the image's
   * metadata file). undefined when the image has no such attribute; missing image → not_found.
   */
  readHeaderXattr(name: string, key: string, options?: StoreCallOptions): Promise<string | undefined>;
  /** Sets an xattr of the image's header object (see readHeaderXattr). Missing image → not_found. */
  writeHeaderXattr(name: string, key: string, value: string, options?: StoreCallOptions): Promise<void>;
  /** How a target backs a LUN with this image (no I/O; the image need not exist). */
  backingFor(name: string): ImageBacking;
  /** Waits for calls in flight, then releases the store; later calls fail with `unavailable`. */
  close(): Promise<void>;
}
