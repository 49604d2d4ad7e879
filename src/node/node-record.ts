import type { CallOptions } from "../util/call-options.js";
import type { KvStore } from "../kv/kv-store.js";
import type { ConsulKeys } from "../consul/keys.js";
import { SanpathError } from "../errors/sanpath-error.js";
import { parseJsonObject, unreadable } from "../errors/stored-record.js";

/**
 * The node record at `<root>/Nodes/<name>`, written by the node at start and with every new session;
 * the coordinator reads it to know the node's gRPC address and which iSCSI subnets it can serve.
 *
 *   {"name":"a","address":"192.0.2.11:7410","interfaces":{"subnet1":"eth1","subnet2":"eth2"},
 *    "version":"0.1.0","cordoned":false,"startedAt":"…","session":"…"}
 *
 * `cordoned` belongs to operators (drain/cordon): the node keeps whatever value is stored.
 * `degraded` belongs to the node: set while its data path failed and it handed its paths off
 * (degraded-mode.ts), absent otherwise.
 */
export interface NodeRecord {
  readonly name: string;
  /** host:port of the node's sanpathd (advertise address). */
  readonly address: string;
  /**
   * host:port of the node's peer-lease listener (its lease worker); absent from a node that renews
   * on `address` (an older sanpathd, or liveness.mode consul).
   */
  readonly leaseAddress?: string | undefined;
  /** Interface per iSCSI subnet; a subnet without one is not served by this node. */
  readonly interfaces: { readonly subnet1?: string | undefined; readonly subnet2?: string | undefined };
  readonly version: string;
  readonly cordoned: boolean;
  readonly startedAt: Date;
  /** The node's current Consul session. */
  readonly session?: string | undefined;
  /** The node's data path failed: it handed its paths off and takes none until it recovers. */
  readonly degraded?: NodeDegradation | undefined;
}

export interface NodeDegradation {
  readonly since: Date;
  readonly reason: string;
}

export function serializeNodeRecord(record: NodeRecord): string {
  return JSON.stringify({
    name: record.name,
    address: record.address,
    ...(record.leaseAddress === undefined ? {} : { leaseAddress: record.leaseAddress }),
    interfaces: {
      ...(record.interfaces.subnet1 === undefined ? {} : { subnet1: record.interfaces.subnet1 }),
      ...(record.interfaces.subnet2 === undefined ? {} : { subnet2: record.interfaces.subnet2 }),
    },
    version: record.version,
    cordoned: record.cordoned,
    startedAt: record.startedAt.toISOString(),
    ...(record.session === undefined ? {} : { session: record.session }),
    ...(record.degraded === undefined
      ? {}
      : { degraded: { since: record.degraded.since.toISOString(), reason: record.degraded.reason } }),
  });
}

export function parseNodeRecord(text: string, key = "node record"): NodeRecord {
  const fail = (rule: string): SanpathError => unreadable(key, rule);
  const { name, address, leaseAddress, interfaces, version, cordoned, startedAt, session, degraded } =
    parseJsonObject(text, key);
  if (typeof name !== "string" || name === "") throw fail("name must be text");
  if (typeof address !== "string") throw fail("address must be text");
  if (leaseAddress !== undefined && typeof leaseAddress !== "string") throw fail("leaseAddress must be text");
  if (typeof interfaces !== "object" || interfaces === null) throw fail("interfaces must be an object");
  const { subnet1, subnet2 } = interfaces as Record<string, unknown>;
  if (subnet1 !== undefined && typeof subnet1 !== "string") throw fail("interfaces.subnet1 must be text");
  if (subnet2 !== undefined && typeof subnet2 !== "string") throw fail("interfaces.subnet2 must be text");
  const started = new Date(typeof startedAt === "string" ? startedAt : Number.NaN);
  if (Number.isNaN(started.getTime())) throw fail("startedAt must be an ISO 8601 time");
  if (session !== undefined && typeof session !== "string") throw fail("session must be text");
  return {
    degraded: degraded === undefined ? undefined : parseDegradation(degraded, fail),
    name,
    address,
    ...(leaseAddress === undefined ? {} : { leaseAddress }),
    interfaces: { subnet1, subnet2 },
    version: typeof version === "string" ? version : "",
    cordoned: cordoned === true,
    startedAt: started,
    session,
  };
}

function parseDegradation(value: unknown, fail: (rule: string) => SanpathError): NodeDegradation {
  if (typeof value !== "object" || value === null) throw fail("degraded must be an object");
  const { since, reason } = value as Record<string, unknown>;
  const at = new Date(typeof since === "string" ? since : Number.NaN);
  if (Number.isNaN(at.getTime())) throw fail("degraded.since must be an ISO 8601 time");
  if (typeof reason !== "string") throw fail("degraded.reason must be text");
  return { since: at, reason };
}

/**
 * Writes the record, keeping the `cordoned` flag already stored (check-and-set, so an operator's
 * cordon written meanwhile is never lost). Returns what was written.
 */
export async function writeNodeRecord(
  kv: KvStore,
  keys: ConsulKeys,
  record: Omit<NodeRecord, "cordoned">,
  options: CallOptions = {},
): Promise<NodeRecord> {
  const key = keys.node(record.name);
  return await changeNodeRecord(
    kv,
    key,
    (current): NodeRecord => {
      let cordoned = false;
      if (current !== undefined) {
        try {
          cordoned = parseNodeRecord(current, key).cordoned;
        } catch {
          // An unreadable record is replaced; it carried no flag we could keep.
        }
      }
      return { ...record, cordoned };
    },
    options,
  );
}

/**
 * Sets (or clears, with undefined) the node's `degraded` field, check-and-set, keeping every other
 * field. False when the node has no record yet (the next writeNodeRecord carries the state).
 */
export async function setNodeDegraded(
  kv: KvStore,
  keys: ConsulKeys,
  name: string,
  degraded: NodeDegradation | undefined,
  options: CallOptions = {},
): Promise<boolean> {
  const key = keys.node(name);
  const written = await changeNodeRecord(
    kv,
    key,
    (current) => (current === undefined ? undefined : { ...parseNodeRecord(current, key), degraded }),
    options,
  );
  return written !== undefined;
}

/**
 * Check-and-set of the record at `key`: `change` gets the stored text (undefined: none) and gives
 * the record to write, or undefined to write nothing. Retried while other writers win the race.
 */
async function changeNodeRecord<R extends NodeRecord | undefined>(
  kv: KvStore,
  key: string,
  change: (current: string | undefined) => R,
  options: CallOptions,
): Promise<R> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const current = await kv.get(key, options);
    const next = change(current?.value);
    if (next === undefined) return next;
    if (await kv.put(key, serializeNodeRecord(next), { ...options, cas: current?.modifyIndex ?? 0 }))
      return next;
  }
  throw new SanpathError("aborted", `node record ${key} kept changing; not written`, {
    reason: "CAS_CONFLICT",
  });
}
