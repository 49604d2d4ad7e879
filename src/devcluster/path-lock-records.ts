/**
 * The path locks as Consul stores them (<root>/Disks/<id>/<n>: the holder's session and the key's
 * ModifyIndex), read through one node's Consul agent socket. A path whose lock keeps both across
 * a restart of its node's sanpathd was never released nor taken again.
 */
import { ConsulKeys } from "../consul/keys.js";
import { unixGetJson } from "./unix-http.js";

export interface PathLockRecord {
  diskId: string;
  index: number;
  /** The holder's session; "" when the lock is free. */
  session: string;
  modifyIndex: number;
}

/** Every path lock key under the default key root, by "<diskId>/<index>". */
export async function readPathLocks(
  consulSocket: string,
  timeoutMs = 2000,
): Promise<Map<string, PathLockRecord>> {
  const keys = new ConsulKeys();
  const entries = await unixGetJson(
    consulSocket,
    `/v1/kv/${encodeURI(keys.disks())}?recurse=true`,
    timeoutMs,
  ).catch((error: unknown) => {
    // No key under the prefix answers 404: no disks yet.
    if (error instanceof Error && error.message.includes("HTTP 404")) return [];
    throw error;
  });
  const locks = new Map<string, PathLockRecord>();
  if (!Array.isArray(entries)) return locks;
  for (const entry of entries as unknown[]) {
    const { Key, Session, ModifyIndex } = (entry ?? {}) as Record<string, unknown>;
    if (typeof Key !== "string" || typeof ModifyIndex !== "number") continue;
    const path = keys.parseDiskPath(Key);
    if (path === undefined) continue;
    locks.set(`${path.diskId}/${path.index}`, {
      ...path,
      session: typeof Session === "string" ? Session : "",
      modifyIndex: ModifyIndex,
    });
  }
  return locks;
}
