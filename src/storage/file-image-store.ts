import { mkdir, open, readFile, readdir, rm, stat, truncate, unlink } from "node:fs/promises";
import { join } from "node:path";
import { SanpathError, errorMessage } from "../errors/sanpath-error.js";
import { writeFileAtomically } from "../util/atomic-file.js";
import { CallTracker } from "./call-tracker.js";
import {
  DISK_RECORD_METADATA_KEY,
  type ImageBacking,
  type ImageInfo,
  type ImageStore,
  type StoreCallOptions,
} from "./image-store.js";
import { KeyedQueue } from "../util/keyed-queue.js";
import {
  shrinkRefused,
  throwIfCancelled,
  validateImageName,
  validateMetadataKey,
  validateMetadataValue,
  validateSizeBytes,
  validateStoreLimit,
} from "./store-rules.js";
import { probeMaxFileBytes } from "./file-size-limit.js";

const IMAGE_SUFFIX = ".img";
const METADATA_SUFFIX = ".meta.json";

/** Creates `dir` if needed and returns a store of sparse image files in it, as large as its file system takes. */
export async function openFileImageStore(dir: string): Promise<FileImageStore> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  return new FileImageStore(dir, await probeMaxFileBytes(dir));
}

/** What failed, without the paths Node puts in a file-system error ("EFBIG (ftruncate)"). */
function withoutPaths(error: unknown): string {
  const code = errnoCode(error);
  if (code === undefined) return errorMessage(error);
  const syscall = error instanceof Error && "syscall" in error ? String(error.syscall) : "";
  return syscall === "" ? code : `${code} (${syscall})`;
}

function errnoCode(error: unknown): string | undefined {
  if (error instanceof Error && "code" in error && typeof error.code === "string") return error.code;
  return undefined;
}

/** An image's metadata file: its image-meta and, apart from it, its "header xattrs". */
interface ImageRecord {
  meta: Map<string, string>;
  headerXattrs: Map<string, string>;
}

/** The two maps of a metadata file that has header xattrs (no other file has a non-string value). */
const IMAGE_META_FIELD = "imageMeta";
const HEADER_XATTRS_FIELD = "headerXattrs";

/**
 * Images are sparse files `<dir>/<name>.img`; an image's metadata is in `<dir>/<name>.meta.json`,
 * replaced atomically on every change: one JSON object of strings (its image-meta), or, once the
 * image has header xattrs (the rbd header object's xattrs, where PetaSAN 1.x keeps its disk
 * record), `{"imageMeta": {...}, "headerXattrs": {...}}`, so that the two never mix and a file
 * without header xattrs stays as earlier versions wrote and read it. Changes to one image are
 * serialised within this process; one process owns a data directory. Error messages reach clients,
 * so they never name a path on this server (the cause, logged here, does).
 */
export class FileImageStore implements ImageStore {
  readonly kind = "file" as const;
  private readonly calls = new CallTracker("file");
  private readonly perImage = new KeyedQueue();

  constructor(
    readonly dir: string,
    readonly maxSizeBytes: number = Number.MAX_SAFE_INTEGER,
  ) {}

  async create(name: string, sizeBytes: number, options?: StoreCallOptions): Promise<void> {
    validateImageName(name);
    validateStoreLimit(this.kind, validateSizeBytes(sizeBytes), this.maxSizeBytes);
    await this.call(`create image ${name}`, name, options, async () => {
      let file;
      try {
        file = await open(this.imagePath(name), "wx", 0o600);
      } catch (error) {
        if (errnoCode(error) === "EEXIST") {
          throw new SanpathError("already_exists", `image ${name} already exists in the file image store`, {
            reason: "DISK_EXISTS",
            cause: error,
          });
        }
        throw error;
      }
      try {
        await file.truncate(sizeBytes);
        await file.sync();
      } catch (error) {
        await file.close();
        await rm(this.imagePath(name), { force: true });
        throw error;
      }
      await file.close();
      // Left over from a removal that stopped half-way: it belongs to no image now.
      await rm(this.metadataPath(name), { force: true });
    });
  }

  async stat(name: string, options?: StoreCallOptions): Promise<ImageInfo> {
    validateImageName(name);
    return await this.call(`stat image ${name}`, undefined, options, async () => ({
      name,
      sizeBytes: await this.sizeOf(name),
    }));
  }

  async grow(name: string, newSizeBytes: number, options?: StoreCallOptions): Promise<void> {
    validateImageName(name);
    validateStoreLimit(this.kind, validateSizeBytes(newSizeBytes, "size_gib"), this.maxSizeBytes, "size_gib");
    await this.call(`grow image ${name}`, name, options, async () => {
      const sizeBytes = await this.sizeOf(name);
      if (newSizeBytes < sizeBytes) throw shrinkRefused(name, sizeBytes, newSizeBytes);
      if (newSizeBytes > sizeBytes) await truncate(this.imagePath(name), newSizeBytes);
    });
  }

  async remove(name: string, options?: StoreCallOptions): Promise<void> {
    validateImageName(name);
    await this.call(`remove image ${name}`, name, options, async () => {
      try {
        await unlink(this.imagePath(name));
      } catch (error) {
        if (errnoCode(error) === "ENOENT") throw this.notFound(name, error);
        throw error;
      }
      await rm(this.metadataPath(name), { force: true });
    });
  }

  async list(options?: StoreCallOptions): Promise<string[]> {
    return await this.call("list images", undefined, options, async () => {
      const entries = await readdir(this.dir, { withFileTypes: true });
      return entries
        .filter((entry) => entry.isFile() && entry.name.endsWith(IMAGE_SUFFIX) && !entry.name.startsWith("."))
        .map((entry) => entry.name.slice(0, -IMAGE_SUFFIX.length))
        .sort();
    });
  }

  async readMetadata(name: string, options?: StoreCallOptions): Promise<string | undefined> {
    validateImageName(name);
    return await this.call(`read metadata of ${name}`, undefined, options, async () => {
      await this.sizeOf(name);
      const record = await this.readRecord(name);
      return record.meta.get(DISK_RECORD_METADATA_KEY) ?? record.headerXattrs.get(DISK_RECORD_METADATA_KEY);
    });
  }

  async writeMetadata(name: string, json: string, options?: StoreCallOptions): Promise<void> {
    await this.setMeta(name, DISK_RECORD_METADATA_KEY, json, options);
  }

  async getMeta(name: string, key: string, options?: StoreCallOptions): Promise<string | undefined> {
    validateImageName(name);
    validateMetadataKey(key);
    return await this.call(`read metadata ${key} of ${name}`, undefined, options, async () => {
      await this.sizeOf(name);
      return (await this.readRecord(name)).meta.get(key);
    });
  }

  async setMeta(name: string, key: string, value: string, options?: StoreCallOptions): Promise<void> {
    validateImageName(name);
    validateMetadataKey(key);
    validateMetadataValue(value);
    await this.call(`write metadata ${key} of ${name}`, name, options, async () => {
      await this.sizeOf(name);
      const record = await this.readRecord(name);
      record.meta.set(key, value);
      await this.writeRecord(name, record);
    });
  }

  async removeMeta(name: string, key: string, options?: StoreCallOptions): Promise<boolean> {
    validateImageName(name);
    validateMetadataKey(key);
    return await this.call(`remove metadata ${key} of ${name}`, name, options, async () => {
      await this.sizeOf(name);
      const record = await this.readRecord(name);
      if (!record.meta.delete(key)) return false;
      await this.writeRecord(name, record);
      return true;
    });
  }

  async listMeta(name: string, options?: StoreCallOptions): Promise<Record<string, string>> {
    validateImageName(name);
    return await this.call(`list metadata of ${name}`, undefined, options, async () => {
      await this.sizeOf(name);
      return Object.fromEntries((await this.readRecord(name)).meta);
    });
  }

  async readHeaderXattr(name: string, key: string, options?: StoreCallOptions): Promise<string | undefined> {
    validateImageName(name);
    validateMetadataKey(key);
    return await this.call(`read header xattr ${key} of ${name}`, undefined, options, async () => {
      await this.sizeOf(name);
      return (await this.readRecord(name)).headerXattrs.get(key);
    });
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
    await this.call(`write header xattr ${key} of ${name}`, name, options, async () => {
      await this.sizeOf(name);
      const record = await this.readRecord(name);
      record.headerXattrs.set(key, value);
      await this.writeRecord(name, record);
    });
  }

  backingFor(name: string): ImageBacking {
    validateImageName(name);
    return { kind: "file", path: this.imagePath(name) };
  }

  async close(): Promise<void> {
    await this.calls.close();
  }

  private imagePath(name: string): string {
    return join(this.dir, `${name}${IMAGE_SUFFIX}`);
  }

  private metadataPath(name: string): string {
    return join(this.dir, `${name}${METADATA_SUFFIX}`);
  }

  private notFound(name: string, cause: unknown): SanpathError {
    return new SanpathError("not_found", `image ${name} does not exist in the file image store`, {
      reason: "DISK_NOT_FOUND",
      cause,
    });
  }

  private async sizeOf(name: string): Promise<number> {
    try {
      const info = await stat(this.imagePath(name));
      if (!info.isFile()) {
        throw new SanpathError("internal", `image ${name} is not a regular file in the file image store`);
      }
      return info.size;
    } catch (error) {
      if (errnoCode(error) === "ENOENT") throw this.notFound(name, error);
      throw error;
    }
  }

  private async readRecord(name: string): Promise<ImageRecord> {
    const path = this.metadataPath(name);
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (error) {
      if (errnoCode(error) === "ENOENT") return { meta: new Map(), headerXattrs: new Map() };
      throw error;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new SanpathError("data_loss", `metadata of image ${name} is not JSON`, {
        reason: "METADATA_UNREADABLE",
        cause: error,
      });
    }
    const object = jsonObject(parsed, () => `metadata of image ${name} is not a JSON object`);
    const values = Object.values(object);
    if (values.every((value) => typeof value === "string")) {
      return { meta: stringMap(object, name, "metadata"), headerXattrs: new Map() };
    }
    // The form with header xattrs: exactly the two maps.
    for (const field of Object.keys(object)) {
      if (field !== IMAGE_META_FIELD && field !== HEADER_XATTRS_FIELD) {
        throw new SanpathError("data_loss", `metadata ${field} of image ${name} is not a string`, {
          reason: "METADATA_UNREADABLE",
        });
      }
    }
    const part = (field: string): Record<string, unknown> =>
      jsonObject(object[field] ?? {}, () => `${field} of image ${name} is not a JSON object`);
    return {
      meta: stringMap(part(IMAGE_META_FIELD), name, "metadata"),
      headerXattrs: stringMap(part(HEADER_XATTRS_FIELD), name, "header xattr"),
    };
  }

  private async writeRecord(name: string, record: ImageRecord): Promise<void> {
    const meta = sortedObject(record.meta);
    const content =
      record.headerXattrs.size === 0
        ? meta
        : { [IMAGE_META_FIELD]: meta, [HEADER_XATTRS_FIELD]: sortedObject(record.headerXattrs) };
    await writeFileAtomically(this.metadataPath(name), `${JSON.stringify(content, null, 2)}\n`);
  }

  /**
   * Runs a store call: refused once closed, `cancelled` if the signal fired before it started,
   * serialised with other changes to `image` when given, file-system errors made SanpathErrors.
   */
  private call<T>(
    what: string,
    image: string | undefined,
    options: StoreCallOptions | undefined,
    run: () => Promise<T>,
  ): Promise<T> {
    const guarded = async (): Promise<T> => {
      throwIfCancelled(options?.signal, what);
      try {
        return await run();
      } catch (error) {
        if (error instanceof SanpathError) throw error;
        const kind = errnoCode(error) === "ENOSPC" ? "resource_exhausted" : "internal";
        throw new SanpathError(kind, `${what} in the file image store failed: ${withoutPaths(error)}`, {
          cause: error,
        });
      }
    };
    return this.calls.run(what, () => (image === undefined ? guarded() : this.perImage.run(image, guarded)));
  }
}

function jsonObject(value: unknown, message: () => string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new SanpathError("data_loss", message(), { reason: "METADATA_UNREADABLE" });
  }
  return value as Record<string, unknown>;
}

function stringMap(object: Record<string, unknown>, image: string, what: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const [key, value] of Object.entries(object)) {
    if (typeof value !== "string") {
      throw new SanpathError("data_loss", `${what} ${key} of image ${image} is not a string`, {
        reason: "METADATA_UNREADABLE",
      });
    }
    map.set(key, value);
  }
  return map;
}

function sortedObject(map: Map<string, string>): Record<string, string> {
  return Object.fromEntries([...map.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
