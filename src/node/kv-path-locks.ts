import type { ConsulKeys } from "../consul/keys.js";
import type { KvStore } from "../kv/kv-store.js";
import { releaseLock } from "../kv/locks.js";
import type { CallOptions } from "../util/call-options.js";
import type { PathLockState, PathLocks, PathRef } from "./path-locks.js";

/** PathLocks on the path keys `<root>/Disks/<id>/<index>` of the KV store, as PetaSAN keeps them. */
export class KvPathLocks implements PathLocks {
  constructor(
    private readonly kv: KvStore,
    private readonly keys: ConsulKeys,
  ) {}

  acquire(path: PathRef, sessionId: string, holderName: string, options: CallOptions = {}): Promise<boolean> {
    return this.kv.acquire(this.keys.diskPath(path.diskId, path.index), sessionId, holderName, options);
  }

  release(path: PathRef, sessionId: string, options: CallOptions = {}): Promise<boolean> {
    return releaseLock(this.kv, this.keys.diskPath(path.diskId, path.index), sessionId, undefined, options);
  }

  async state(path: PathRef, options: CallOptions = {}): Promise<PathLockState | undefined> {
    const entry = await this.kv.get(this.keys.diskPath(path.diskId, path.index), options);
    return entry === undefined ? undefined : { session: entry.session, holderName: entry.value };
  }

  async heldBy(sessionId: string, options: CallOptions = {}): Promise<PathRef[]> {
    const held: PathRef[] = [];
    for (const entry of await this.kv.list(this.keys.disks(), options)) {
      if (entry.session !== sessionId) continue;
      const path = this.keys.parseDiskPath(entry.key);
      if (path !== undefined) held.push(path);
    }
    return held;
  }
}
