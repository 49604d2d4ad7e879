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

/**
 * Images are sparse files `<dir>/<name>.img`; an image's metadata is one JSON object of strings in
 * `<dir>/<name>.meta.json`, replaced atomically on every change. Changes to one image are
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
    return await this.getMeta(name, DISK_RECORD_METADATA_KEY, options);
  }

  async writeMetadata(name: string, json: string, options?: StoreCallOptions): Promise<void> {
    await this.setMeta(name, DISK_RECORD_METADATA_KEY, json, options);
  }

  async getMeta(name: string, key: string, options?: StoreCallOptions): Promise<string | undefined> {
    validateImageName(name);
    validateMetadataKey(key);
    return await this.call(`read metadata ${key} of ${name}`, undefined, options, async () => {
      await this.sizeOf(name);
      return (await this.readRecord(name)).get(key);
    });
  }

  async setMeta(name: string, key: string, value: string, options?: StoreCallOptions): Promise<void> {
    validateImageName(name);
    validateMetadataKey(key);
    validateMetadataValue(value);
    await this.call(`write metadata ${key} of ${name}`, name, options, async () => {
      await this.sizeOf(name);
      const record = await this.readRecord(name);
      record.set(key, value);
      await this.writeRecord(name, record);
    });
  }

  async removeMeta(name: string, key: string, options?: StoreCallOptions): Promise<boolean> {
    validateImageName(name);
    validateMetadataKey(key);
    return await this.call(`remove metadata ${key} of ${name}`, name, options, async () => {
      await this.sizeOf(name);
      const record = await this.readRecord(name);
      if (!record.delete(key)) return false;
      await this.writeRecord(name, record);
      return true;
    });
  }

  async listMeta(name: string, options?: StoreCallOptions): Promise<Record<string, string>> {
    validateImageName(name);
    return await this.call(`list metadata of ${name}`, undefined, options, async () => {
      await this.sizeOf(name);
      return Object.fromEntries(await this.readRecord(name));
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

  private async readRecord(name: string): Promise<Map<string, string>> {
    const path = this.metadataPath(name);
    let text: string;
    try {
      text = await readFile(path, "utf8");
    } catch (error) {
      if (errnoCode(error) === "ENOENT") return new Map();
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
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      throw new SanpathError("data_loss", `metadata of image ${name} is not a JSON object`, {
        reason: "METADATA_UNREADABLE",
      });
    }
    const record = new Map<string, string>();
    for (const [key, value] of Object.entries(parsed)) {
      if (typeof value !== "string") {
        throw new SanpathError("data_loss", `metadata ${key} of image ${name} is not a string`, {
          reason: "METADATA_UNREADABLE",
        });
      }
      record.set(key, value);
    }
    return record;
  }

  private async writeRecord(name: string, record: Map<string, string>): Promise<void> {
    const sorted = [...record.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    await writeFileAtomically(
      this.metadataPath(name),
      `${JSON.stringify(Object.fromEntries(sorted), null, 2)}\n`,
    );
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
