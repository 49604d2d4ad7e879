import { connectRbd, type RbdCluster, type RbdConnectOptions } from "../../native/index.js";
import { CallTracker } from "./call-tracker.js";
import {
  DISK_RECORD_METADATA_KEY,
  type ImageBacking,
  type ImageInfo,
  type ImageStore,
  type StoreCallOptions,
} from "./image-store.js";
import {
  shrinkRefused,
  throwIfCancelled,
  validateImageName,
  validateMetadataKey,
  validateMetadataValue,
  validateSizeBytes,
} from "./store-rules.js";

export interface RbdImageStoreOptions {
  /** The Ceph pool the images live in, e.g. "rbd". */
  pool: string;
  connect: RbdConnectOptions;
}

/** Connects to Ceph and returns an ImageStore over one pool. Unreachable → unavailable (CEPH_UNAVAILABLE). */
export async function openRbdImageStore(options: RbdImageStoreOptions): Promise<RbdImageStore> {
  const cluster = await connectRbd(options.connect);
  const userId = (options.connect.userId ?? "admin").replace(/^client\./, "");
  return new RbdImageStore(cluster, options.pool, { userId, confPath: options.connect.confPath }, true);
}

interface ClientIdentity {
  userId: string;
  confPath: string | undefined;
}

/**
 * Images are RBD images in one pool; metadata is RBD image metadata (rbd image-meta); header
 * xattrs are xattrs of the image's header object `rbd_header.<id>` (PetaSAN 1.x's disk record).
 */
export class RbdImageStore implements ImageStore {
  readonly kind = "rbd" as const;
  readonly maxSizeBytes = Number.MAX_SAFE_INTEGER;
  private readonly calls = new CallTracker("rbd");

  constructor(
    private readonly cluster: RbdCluster,
    readonly pool: string,
    private readonly client: ClientIdentity,
    private readonly ownsCluster: boolean,
  ) {}

  /** A store over another pool on the same connection; closing it leaves the connection open. */
  withPool(pool: string): RbdImageStore {
    return new RbdImageStore(this.cluster, pool, this.client, false);
  }

  async create(name: string, sizeBytes: number, options?: StoreCallOptions): Promise<void> {
    validateImageName(name);
    validateSizeBytes(sizeBytes);
    return await this.call(`create image ${name}`, options, () =>
      this.cluster.createImage(this.pool, name, sizeBytes),
    );
  }

  async stat(name: string, options?: StoreCallOptions): Promise<ImageInfo> {
    validateImageName(name);
    return await this.call(`stat image ${name}`, options, async () => {
      const stat = await this.cluster.statImage(this.pool, name);
      return { name, sizeBytes: stat.sizeBytes };
    });
  }

  async grow(name: string, newSizeBytes: number, options?: StoreCallOptions): Promise<void> {
    validateImageName(name);
    validateSizeBytes(newSizeBytes, "size_gib");
    return await this.call(`grow image ${name}`, options, async () => {
      const { sizeBytes } = await this.cluster.statImage(this.pool, name);
      if (newSizeBytes < sizeBytes) throw shrinkRefused(name, sizeBytes, newSizeBytes);
      if (newSizeBytes === sizeBytes) return;
      // librbd refuses to shrink too, should the image change between stat and resize.
      await this.cluster.resizeImage(this.pool, name, newSizeBytes);
    });
  }

  async remove(name: string, options?: StoreCallOptions): Promise<void> {
    validateImageName(name);
    return await this.call(`remove image ${name}`, options, () => this.cluster.removeImage(this.pool, name));
  }

  async list(options?: StoreCallOptions): Promise<string[]> {
    return await this.call(`list images`, options, async () =>
      (await this.cluster.listImages(this.pool)).sort(),
    );
  }

  async readMetadata(name: string, options?: StoreCallOptions): Promise<string | undefined> {
    return (
      (await this.getMeta(name, DISK_RECORD_METADATA_KEY, options)) ??
      (await this.readHeaderXattr(name, DISK_RECORD_METADATA_KEY, options))
    );
  }

  async writeMetadata(name: string, json: string, options?: StoreCallOptions): Promise<void> {
    return await this.setMeta(name, DISK_RECORD_METADATA_KEY, json, options);
  }

  async getMeta(name: string, key: string, options?: StoreCallOptions): Promise<string | undefined> {
    validateImageName(name);
    validateMetadataKey(key);
    return await this.call(`read metadata ${key} of ${name}`, options, () =>
      this.cluster.getMetadata(this.pool, name, key),
    );
  }

  async setMeta(name: string, key: string, value: string, options?: StoreCallOptions): Promise<void> {
    validateImageName(name);
    validateMetadataKey(key);
    validateMetadataValue(value);
    return await this.call(`write metadata ${key} of ${name}`, options, () =>
      this.cluster.setMetadata(this.pool, name, key, value),
    );
  }

  async removeMeta(name: string, key: string, options?: StoreCallOptions): Promise<boolean> {
    validateImageName(name);
    validateMetadataKey(key);
    return await this.call(`remove metadata ${key} of ${name}`, options, () =>
      this.cluster.removeMetadata(this.pool, name, key),
    );
  }

  async listMeta(name: string, options?: StoreCallOptions): Promise<Record<string, string>> {
    validateImageName(name);
    return await this.call(`list metadata of ${name}`, options, async () =>
      Object.fromEntries(await this.cluster.listMetadata(this.pool, name)),
    );
  }

  async readHeaderXattr(name: string, key: string, options?: StoreCallOptions): Promise<string | undefined> {
    validateImageName(name);
    validateMetadataKey(key);
    return await this.call(`read header xattr ${key} of ${name}`, options, () =>
      this.cluster.getHeaderXattr(this.pool, name, key),
    );
  }

  async writeHeaderXattr(
    name: string,
    key: string,
    value: string,
    options?: StoreCallOptions,
  ): Promise<void> {
    validateImageName(name);
    validateMetadataKey(key);
    validateMetadataValue(value);
    return await this.call(`write header xattr ${key} of ${name}`, options, () =>
      this.cluster.setHeaderXattr(this.pool, name, key, value),
    );
  }

  backingFor(name: string): ImageBacking {
    validateImageName(name);
    return {
      kind: "rbd",
      pool: this.pool,
      image: name,
      userId: this.client.userId,
      ...(this.client.confPath === undefined ? {} : { confPath: this.client.confPath }),
    };
  }

  async close(): Promise<void> {
    await this.calls.close();
    if (this.ownsCluster) await this.cluster.close();
  }

  private call<T>(what: string, options: StoreCallOptions | undefined, run: () => Promise<T>): Promise<T> {
    return this.calls.run(what, () => {
      throwIfCancelled(options?.signal, what);
      return run();
    });
  }
}
