/**
 * The typed facade over native/build/Release/sanpath_rbd.node (librados + librbd).
 *
 * The `Native*` types declare exactly what the C++ side (native/src/) accepts and returns; nothing
 * else touches the addon. `connectRbd()` wraps it so that every failure is a SanpathError whose
 * `cause` is the addon's Error (with `op`, `step`, `pool`, `image`, `errno`).
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { SanpathError } from "../src/errors/sanpath-error.js";
import { projectRoot } from "../src/util/project-root.js";

// ---- the boundary: what the addon exports -------------------------------------------------------

/** Options of the addon's connect(); settings are applied after the conf file, in this order. */
export interface NativeConnectOptions {
  /** Without the "client." prefix, e.g. "admin". */
  userId: string;
  confPath?: string;
  /** e.g. "127.0.0.1:3300" or "[v2:192.0.2.200:3300,v1:192.0.2.200:6789]". */
  monHost?: string;
  /** The cephx secret itself (base64). */
  key?: string;
  keyringPath?: string;
  /** Whole seconds >= 1. */
  clientMountTimeoutSec: number;
  monOpTimeoutSec: number;
  osdOpTimeoutSec: number;
  /** Any further librados settings, e.g. { ms_bind_ipv6: "false" }. */
  config?: Record<string, string>;
}

export interface NativeImageStat {
  sizeBytes: number;
  objectSizeBytes: number;
  order: number;
  /** RBD_FEATURE_* bits. */
  features: number;
}

/** A connected librados handle. Every method runs on the libuv thread pool. */
export interface NativeCluster {
  /** Waits for running operations, then shuts librados down. Later calls reject with ESHUTDOWN. */
  close(): Promise<void>;
  /** Format 2, features = layering only; order 0 = librbd's default (4 MiB objects). */
  createImage(pool: string, image: string, sizeBytes: number, order?: number): Promise<void>;
  statImage(pool: string, image: string): Promise<NativeImageStat>;
  /** Never shrinks: a smaller size rejects with EINVAL. */
  resizeImage(pool: string, image: string, sizeBytes: number): Promise<void>;
  removeImage(pool: string, image: string): Promise<void>;
  listImages(pool: string): Promise<string[]>;
  /** null when the image exists but the key does not. */
  getMetadata(pool: string, image: string, key: string): Promise<string | null>;
  setMetadata(pool: string, image: string, key: string, value: string): Promise<void>;
  /** false when the image exists but the key did not. */
  removeMetadata(pool: string, image: string, key: string): Promise<boolean>;
  /** [key, value] pairs in key order. */
  listMetadata(pool: string, image: string): Promise<[string, string][]>;
  /**
   * An xattr of the image's header object (`rbd_header.<id>`; format 1: `<image>.rbd`), where
   * PetaSAN 1.x keeps the disk record. null when the image exists but the attribute does not.
   */
  getHeaderXattr(pool: string, image: string, key: string): Promise<string | null>;
  /** Sets an xattr of the image's header object; the header must exist (never creates it). */
  setHeaderXattr(pool: string, image: string, key: string, value: string): Promise<void>;
}

export interface NativeBinding {
  connect(options: NativeConnectOptions): Promise<NativeCluster>;
}

export type NativeOp =
  | "connect"
  | "create"
  | "stat"
  | "resize"
  | "remove"
  | "list"
  | "metadata_get"
  | "metadata_set"
  | "metadata_remove"
  | "metadata_list"
  | "xattr_get"
  | "xattr_set";

/** The properties the addon puts on every Error it rejects with (native/src/op_error.cc). */
export interface NativeOpError extends Error {
  op: NativeOp;
  /** The library call that failed ("rados_connect", "rbd_open", "open_pool", "closed", ...). */
  step: string;
  pool?: string;
  image?: string;
  /** Negative errno, e.g. -17. */
  errno: number;
  /** "EEXIST", "ENOENT", ... ("EUNKNOWN" for the rest). */
  code: string;
}

export function isNativeOpError(error: unknown): error is NativeOpError {
  if (!(error instanceof Error)) return false;
  const fields = error as Error & Record<string, unknown>;
  return typeof fields.op === "string" && typeof fields.errno === "number" && typeof fields.step === "string";
}

export const RBD_FEATURE_LAYERING = 1;

const ADDON_FILE = join("native", "build", "Release", "sanpath_rbd.node");
let binding: NativeBinding | undefined;

/** The path the addon is loaded from. */
export function addonPath(): string {
  return join(projectRoot(), ADDON_FILE);
}

/** Loads the addon on first use, so code that only uses the file store never needs it. */
export function loadBinding(): NativeBinding {
  if (binding !== undefined) return binding;
  const path = addonPath();
  if (!existsSync(path)) {
    throw new SanpathError(
      "failed_precondition",
      `the rbd addon is not built (${path} is missing): run "npm install" or "npx node-gyp rebuild --directory native"`,
      { reason: "DRIVER_FAILED" },
    );
  }
  const require = createRequire(import.meta.url);
  binding = require(path) as NativeBinding;
  return binding;
}

// ---- errno → domain errors ----------------------------------------------------------------------

const EPERM = -1;
const ENOENT = -2;
const EBUSY = -16;
const EEXIST = -17;
const EINVAL = -22;
const EACCES = -13;
const ENOTCONN = -107;
const ESHUTDOWN = -108;
const ETIMEDOUT = -110;
const ECONNREFUSED = -111;
const EHOSTUNREACH = -113;

const UNREACHABLE_ERRNOS = new Set([ENOTCONN, ETIMEDOUT, ECONNREFUSED, EHOSTUNREACH]);

/** What the facade knows about the connection, for messages. */
export interface RbdErrorContext {
  /** Where the monitors are, as configured: "127.0.0.1:3300" or "the monitors in /etc/ceph/ceph.conf". */
  monitors: string;
  userId: string;
  /** The timeout that applies to the failed call, in seconds. */
  timeoutSec: number;
}

function describeTarget(error: NativeOpError): string {
  if (error.pool === undefined) return "";
  return error.image === undefined ? ` in pool ${error.pool}` : ` ${error.pool}/${error.image}`;
}

function libraryCause(error: NativeOpError): string {
  return `${error.step}: ${error.code} (errno ${error.errno})`;
}

/** Maps an addon failure to the domain error the rest of sanpath handles; keeps it as `cause`. */
export function toSanpathError(error: unknown, context: RbdErrorContext): SanpathError {
  if (error instanceof SanpathError) return error;
  if (!isNativeOpError(error)) {
    return new SanpathError("internal", `rbd call failed: ${String(error)}`, { cause: error });
  }
  const target = describeTarget(error);
  const errno = error.errno;
  if (error.op === "connect") {
    if (UNREACHABLE_ERRNOS.has(errno)) {
      return new SanpathError(
        "unavailable",
        `Ceph is unreachable: no monitor at ${context.monitors} answered client.${context.userId} within ` +
          `${context.timeoutSec} s (${libraryCause(error)})`,
        { reason: "CEPH_UNAVAILABLE", cause: error },
      );
    }
    if (errno === EACCES || errno === EPERM) {
      return new SanpathError(
        "unavailable",
        `cannot connect to Ceph: the monitors at ${context.monitors} refused the credentials of ` +
          `client.${context.userId} (${libraryCause(error)})`,
        { reason: "CEPH_UNAVAILABLE", cause: error },
      );
    }
    return new SanpathError(
      "unavailable",
      `cannot connect to Ceph at ${context.monitors} as client.${context.userId}: ${error.message}`,
      { reason: "CEPH_UNAVAILABLE", cause: error },
    );
  }
  if (UNREACHABLE_ERRNOS.has(errno)) {
    return new SanpathError(
      "unavailable",
      `Ceph is unreachable: rbd ${error.op}${target} got no answer within ${context.timeoutSec} s ` +
        `(${libraryCause(error)})`,
      { reason: "CEPH_UNAVAILABLE", cause: error },
    );
  }
  if (errno === ESHUTDOWN) {
    return new SanpathError("unavailable", `rbd ${error.op}${target}: the Ceph connection is closed`, {
      reason: "CEPH_UNAVAILABLE",
      cause: error,
    });
  }
  if (errno === ENOENT && error.step === "open_pool") {
    return new SanpathError("failed_precondition", `Ceph pool ${error.pool ?? "?"} does not exist`, {
      cause: error,
    });
  }
  if (errno === ENOENT) {
    return new SanpathError("not_found", `image${target} does not exist`, {
      reason: "DISK_NOT_FOUND",
      cause: error,
    });
  }
  if (errno === EEXIST) {
    return new SanpathError("already_exists", `image${target} already exists`, {
      reason: "DISK_EXISTS",
      cause: error,
    });
  }
  if (errno === EBUSY) {
    return new SanpathError(
      "failed_precondition",
      `image${target} is in use (watchers): rbd ${error.op} needs it closed everywhere`,
      { cause: error },
    );
  }
  if (errno === EINVAL && error.op === "resize") {
    return new SanpathError("invalid_argument", `size_gib: image${target} can only grow, never shrink`, {
      reason: "SHRINK_REFUSED",
      field: "size_gib",
      cause: error,
    });
  }
  return new SanpathError("internal", error.message, { cause: error });
}

// ---- the facade ---------------------------------------------------------------------------------

export interface RbdConnectOptions {
  /** Without "client."; default "admin". "client.admin" is accepted too. */
  userId?: string;
  /** A ceph.conf; give this or monHost. */
  confPath?: string;
  monHost?: string;
  /** The cephx secret (base64); or keyringPath; or a keyring named in the conf file. */
  key?: string;
  keyringPath?: string;
  /** How long connect() may wait for the monitors; default 10 s (Ceph's default is 300 s). */
  clientMountTimeoutMs?: number;
  /** Per monitor / OSD request; default 30 s. */
  monOpTimeoutMs?: number;
  osdOpTimeoutMs?: number;
  config?: Record<string, string>;
}

export interface RbdImageStat {
  sizeBytes: number;
  objectSizeBytes: number;
  order: number;
  features: number;
}

/** A connected Ceph cluster; every failure is a SanpathError (see toSanpathError). */
export interface RbdCluster {
  createImage(pool: string, image: string, sizeBytes: number, options?: { order?: number }): Promise<void>;
  statImage(pool: string, image: string): Promise<RbdImageStat>;
  /** Grows the image; shrinking is refused by librbd (SHRINK_REFUSED). */
  resizeImage(pool: string, image: string, sizeBytes: number): Promise<void>;
  removeImage(pool: string, image: string): Promise<void>;
  listImages(pool: string): Promise<string[]>;
  getMetadata(pool: string, image: string, key: string): Promise<string | undefined>;
  setMetadata(pool: string, image: string, key: string, value: string): Promise<void>;
  /** Whether the key existed. */
  removeMetadata(pool: string, image: string, key: string): Promise<boolean>;
  listMetadata(pool: string, image: string): Promise<Map<string, string>>;
  /**
   * An xattr of the image's header object (rados getxattr on `rbd_header.<id>`), where PetaSAN 1.x
   * keeps the disk record; undefined when the image exists without it. Missing image → not_found.
   */
  getHeaderXattr(pool: string, image: string, key: string): Promise<string | undefined>;
  /** rados setxattr on the image's header object. Missing image → not_found (nothing is created). */
  setHeaderXattr(pool: string, image: string, key: string, value: string): Promise<void>;
  /** Waits for running calls, then disconnects. Idempotent. */
  close(): Promise<void>;
}

function wholeSeconds(ms: number, field: string): number {
  if (!Number.isFinite(ms) || ms <= 0) {
    throw new SanpathError("invalid_argument", `${field}: must be a positive number of milliseconds`, {
      reason: "INVALID_FIELD",
      field,
    });
  }
  return Math.max(1, Math.ceil(ms / 1000));
}

/** Connects to Ceph. Rejects with `unavailable` / CEPH_UNAVAILABLE when no monitor answers in time. */
export async function connectRbd(options: RbdConnectOptions): Promise<RbdCluster> {
  const userId = (options.userId ?? "admin").replace(/^client\./, "");
  const clientMountTimeoutSec = wholeSeconds(options.clientMountTimeoutMs ?? 10_000, "clientMountTimeoutMs");
  const monOpTimeoutSec = wholeSeconds(options.monOpTimeoutMs ?? 30_000, "monOpTimeoutMs");
  const osdOpTimeoutSec = wholeSeconds(options.osdOpTimeoutMs ?? 30_000, "osdOpTimeoutMs");
  if (options.confPath === undefined && options.monHost === undefined) {
    throw new SanpathError("invalid_argument", "confPath: give a Ceph conf file or monHost", {
      reason: "INVALID_FIELD",
      field: "confPath",
    });
  }
  const monitors = options.monHost ?? `the monitors in ${options.confPath ?? "?"}`;
  const native: NativeConnectOptions = {
    userId,
    clientMountTimeoutSec,
    monOpTimeoutSec,
    osdOpTimeoutSec,
    ...(options.confPath === undefined ? {} : { confPath: options.confPath }),
    ...(options.monHost === undefined ? {} : { monHost: options.monHost }),
    ...(options.key === undefined ? {} : { key: options.key }),
    ...(options.keyringPath === undefined ? {} : { keyringPath: options.keyringPath }),
    ...(options.config === undefined ? {} : { config: options.config }),
  };
  const addon = loadBinding();
  let cluster: NativeCluster;
  try {
    cluster = await addon.connect(native);
  } catch (error) {
    throw toSanpathError(error, { monitors, userId, timeoutSec: clientMountTimeoutSec });
  }
  const opContext: RbdErrorContext = {
    monitors,
    userId,
    timeoutSec: Math.max(monOpTimeoutSec, osdOpTimeoutSec),
  };
  const call = async <T>(run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (error) {
      throw toSanpathError(error, opContext);
    }
  };
  return {
    createImage: (pool, image, sizeBytes, createOptions) =>
      call(() => cluster.createImage(pool, image, sizeBytes, createOptions?.order ?? 0)),
    statImage: (pool, image) => call(() => cluster.statImage(pool, image)),
    resizeImage: (pool, image, sizeBytes) => call(() => cluster.resizeImage(pool, image, sizeBytes)),
    removeImage: (pool, image) => call(() => cluster.removeImage(pool, image)),
    listImages: (pool) => call(() => cluster.listImages(pool)),
    getMetadata: (pool, image, key) =>
      call(async () => (await cluster.getMetadata(pool, image, key)) ?? undefined),
    setMetadata: (pool, image, key, value) => call(() => cluster.setMetadata(pool, image, key, value)),
    removeMetadata: (pool, image, key) => call(() => cluster.removeMetadata(pool, image, key)),
    listMetadata: (pool, image) => call(async () => new Map(await cluster.listMetadata(pool, image))),
    getHeaderXattr: (pool, image, key) =>
      call(async () => (await cluster.getHeaderXattr(pool, image, key)) ?? undefined),
    setHeaderXattr: (pool, image, key, value) => call(() => cluster.setHeaderXattr(pool, image, key, value)),
    close: () => call(() => cluster.close()),
  };
}
