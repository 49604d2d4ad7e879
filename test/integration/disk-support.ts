/**
 * Shared pieces of the disk tests: sample settings, a DiskService over a real Consul agent and a
 * real image store, a dump of every key under a root, and wrappers that make one step fail.
 */
import { overrideKv } from "../support/kv-override.js";
import { ConsulKvStore } from "../../src/consul/consul-kv-store.js";
import type { KvStore } from "../../src/kv/kv-store.js";
import type { KvOperation } from "../../src/kv/kv-store.js";
import { Metadata, status as GrpcStatus, type CallOptions, type ServiceError } from "@grpc/grpc-js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConsulClient } from "../../src/consul/consul-client.js";
import { ConsulKeys } from "../../src/consul/keys.js";
import type { ClusterSettingsInput } from "../../src/disks/cluster-settings.js";
import { diskImagesOver, type DiskImages } from "../../src/disks/disk-images.js";
import { DiskService } from "../../src/disks/disk-service.js";
import { SanpathError } from "../../src/errors/sanpath-error.js";
import { createLogger } from "../../src/log/logger.js";
import { openFileImageStore } from "../../src/storage/file-image-store.js";
import type { ImageStore } from "../../src/storage/image-store.js";
import { DEV_CLUSTER_SETTINGS } from "../../src/server/disk-component.js";

export const SAMPLE_SETTINGS: ClusterSettingsInput = {
  ...DEV_CLUSTER_SETTINGS,
  iqnBase: "iqn.2016-05.com.example.sanpath",
};

let rootCounter = 0;
/** A Consul root of its own for one test: nothing it leaves can meet another test's keys. */
export function freshRoot(label: string): string {
  rootCounter += 1;
  return `sanpath-test-${label}-${process.pid}-${rootCounter}`;
}

/** Every key under `root` with its value and flags, sorted. */
export async function dumpKeys(client: ConsulClient, root: string): Promise<Record<string, string>> {
  const entries = await client.list(`${root}/`);
  return Object.fromEntries(entries.map((entry) => [entry.key, `${entry.value}|flags=${entry.flags}`]));
}

/** The keys under root that a disk or a reservation leaves; settings do not count. */
export async function diskTraces(client: ConsulClient, root: string): Promise<string[]> {
  const entries = await client.list(`${root}/`);
  return entries.map((entry) => entry.key).filter((key) => key !== new ConsulKeys(root).settings());
}

export interface ServiceFixture {
  service: DiskService;
  kv: KvStore;
  store: ImageStore;
  images: DiskImages;
  keys: ConsulKeys;
  root: string;
  close(): Promise<void>;
}

export interface FixtureOptions {
  root: string;
  client: ConsulClient;
  store: ImageStore;
  nodeName?: string;
  /** Wraps the real KV (fault injection). */
  wrapKv?: (kv: KvStore) => KvStore;
  /** Wraps the real store (fault injection). */
  wrapStore?: (store: ImageStore) => ImageStore;
  settings?: ClusterSettingsInput | false;
}

export async function diskServiceFixture(options: FixtureOptions): Promise<ServiceFixture> {
  const realKv = new ConsulKvStore(options.client);
  const kv = options.wrapKv === undefined ? realKv : options.wrapKv(realKv);
  const store = options.wrapStore === undefined ? options.store : options.wrapStore(options.store);
  const images = diskImagesOver(store);
  const keys = new ConsulKeys(options.root);
  const service = new DiskService({
    kv,
    keys,
    images,
    nodeName: options.nodeName ?? "test-node",
    logger: createLogger({ level: "silent" }),
  });
  if (options.settings !== false) await service.settings.init(options.settings ?? SAMPLE_SETTINGS);
  return { service, kv, store, images, keys, root: options.root, close: () => service.close() };
}

export interface TempFileStore {
  store: ImageStore;
  dir: string;
  remove(): Promise<void>;
}

export async function tempFileStore(label: string): Promise<TempFileStore> {
  const dir = mkdtempSync(join(tmpdir(), `sanpath-${label}-`));
  const store = await openFileImageStore(join(dir, "images"));
  return {
    store,
    dir,
    async remove() {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A failure as a dependency would report it. */
export function injectedFailure(what: string): SanpathError {
  return new SanpathError("unavailable", `injected failure: ${what}`, { reason: "CONSUL_UNAVAILABLE" });
}

/** Which AddDisk step a transaction is, by its operations. */
export function transactionStep(
  operations: readonly KvOperation[],
): "reserve" | "register" | "release" | "other" {
  const pendingWrite = operations.find((op) => op.key.includes("/Allocations/Pending/") && op.verb === "cas");
  if (pendingWrite !== undefined && "index" in pendingWrite && pendingWrite.index === 0) return "reserve";
  const touchesPending = operations.some(
    (op) => op.key.includes("/Allocations/Pending/") && op.verb === "delete",
  );
  if (
    touchesPending &&
    operations.some((op) => op.verb === "cas" && op.key.includes("/Allocations/DiskIds/"))
  ) {
    return "register";
  }
  if (touchesPending) return "release";
  return "other";
}

/**
 * The KV with transactions of one step failing `times` times (default once): before they are sent,
 * or, with `afterRun`, after Consul committed them (an answer lost on the way back).
 */
export function failingTransactions(
  step: ReturnType<typeof transactionStep>,
  error: () => Error,
  options: { afterRun?: boolean; times?: number } = {},
): (kv: KvStore) => KvStore {
  return (kv) => {
    let remaining = options.times ?? 1;
    return overrideKv(kv, {
      transaction: async (operations, callOptions) => {
        if (remaining <= 0 || transactionStep(operations) !== step) {
          return await kv.transaction(operations, callOptions);
        }
        remaining -= 1;
        if (options.afterRun === true) await kv.transaction(operations, callOptions);
        throw error();
      },
    });
  };
}

/** The store with `method` failing (after running, when `afterRun`: an answer lost on the way back). */
export function failingStore(
  method: "create" | "writeMetadata" | "remove",
  error: () => Error,
  options: { afterRun?: boolean; times?: number } = {},
): (store: ImageStore) => ImageStore {
  return (store) => {
    let remaining = options.times ?? 1;
    const wrapped: ImageStore = Object.create(store) as ImageStore;
    const original = store[method].bind(store) as (...args: unknown[]) => Promise<void>;
    Object.defineProperty(wrapped, method, {
      value: async (...args: unknown[]) => {
        if (remaining <= 0) return await original(...args);
        remaining -= 1;
        if (options.afterRun === true) await original(...args);
        throw error();
      },
    });
    return wrapped;
  };
}

/** What a failed call carried: the gRPC code name, `sanpath-reason`, `sanpath-field` and the message. */
export interface CallFailure {
  code: string;
  reason: string | undefined;
  field: string | undefined;
  details: string;
}

export type CallResult<Response> = { ok: true; response: Response } | { ok: false; failure: CallFailure };

type UnaryMethod<Request, Response> = (
  request: Request,
  metadata: Metadata,
  options: Partial<CallOptions>,
  callback: (error: ServiceError | null, response: Response) => void,
) => unknown;

/** One unary call with a 20 s deadline; a failure is returned, not thrown. */
export function invoke<Request, Response>(
  method: UnaryMethod<Request, Response>,
  request: Request,
): Promise<CallResult<Response>> {
  return new Promise((resolve) => {
    method(request, new Metadata(), { deadline: new Date(Date.now() + 20_000) }, (error, response) => {
      if (error === null) {
        resolve({ ok: true, response });
        return;
      }
      const first = (key: string): string | undefined => {
        const value = error.metadata.get(key)[0];
        return typeof value === "string" ? value : undefined;
      };
      resolve({
        ok: false,
        failure: {
          code: GrpcStatus[error.code],
          reason: first("sanpath-reason"),
          field: first("sanpath-field"),
          details: error.details,
        },
      });
    });
  });
}

/** The response of a call that must succeed. */
export async function must<Request, Response>(
  method: UnaryMethod<Request, Response>,
  request: Request,
): Promise<Response> {
  const result = await invoke(method, request);
  if (!result.ok) throw new Error(`call failed: ${JSON.stringify(result.failure)}`);
  return result.response;
}
