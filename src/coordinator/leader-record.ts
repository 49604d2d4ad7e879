import { lockHolder } from "../kv/locks.js";
import type { CallOptions } from "../util/call-options.js";
import type { KvStore } from "../kv/kv-store.js";
import type { ConsulKeys } from "../consul/keys.js";

/** The coordinator lock's value: who leads and where to reach it. */
export interface LeaderRecord {
  readonly node: string;
  /** host:port of the leader's sanpathd. */
  readonly address: string;
}

/** The coordinator now: its record and its epoch (the lock's LockIndex). */
export interface Leader extends LeaderRecord {
  readonly epoch: number;
  /** The leader's Consul session. */
  readonly session: string;
}

export function serializeLeaderRecord(record: LeaderRecord): string {
  return JSON.stringify({ node: record.node, address: record.address });
}

/** The record in a lock value; a value that is not one (e.g. written by hand) gives empty fields. */
export function parseLeaderRecord(value: string): LeaderRecord {
  try {
    const parsed: unknown = JSON.parse(value);
    if (typeof parsed === "object" && parsed !== null) {
      const { node, address } = parsed as Record<string, unknown>;
      return {
        node: typeof node === "string" ? node : "",
        address: typeof address === "string" ? address : "",
      };
    }
  } catch {
    // not JSON: below
  }
  return { node: "", address: "" };
}

/** The elected coordinator, or undefined when the lock is free. */
export async function readLeader(
  kv: KvStore,
  keys: ConsulKeys,
  options: CallOptions = {},
): Promise<Leader | undefined> {
  const holder = await lockHolder(kv, keys.coordinatorLock(), options);
  if (holder === undefined) return undefined;
  return { ...parseLeaderRecord(holder.value), epoch: holder.lockIndex, session: holder.session };
}
