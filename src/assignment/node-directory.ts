import type { KvStore } from "../kv/kv-store.js";
import type { LiveSessions } from "../kv/session-store.js";
import type { CallOptions } from "../util/call-options.js";
import type { ConsulKeys } from "../consul/keys.js";
import { parseNodeRecord } from "../node/node-record.js";
import { nodeRecordView, type NodeRecordView } from "./assignment-stats.js";

export interface NodeDirectoryOptions {
  kv: KvStore;
  sessions: LiveSessions;
  keys: ConsulKeys;
  /** A view older than this is read again before it answers (default 300 ms). */
  maxAgeMs?: number;
  /** The reads' own signal (the coordinator's term): one caller giving up does not fail the others. */
  signal?: AbortSignal;
  /** Milliseconds of a monotonic clock (default performance.now). */
  clock?: () => number;
}

interface Snapshot {
  readonly readAt: number;
  readonly nodes: ReadonlyMap<string, NodeRecordView>;
}

/**
 * The node records and which nodes are online, as one view shared by a job's moves: every node
 * record and the live sessions are read together at most once per maxAgeMs, whatever the number of
 * moves asking (one read in flight at a time, its answer shared by everyone waiting for it). The
 * view may be up to maxAgeMs old; that is safe for what a move uses it for: a target that went
 * offline meanwhile is refused by the node itself (a node without a live session acquires nothing),
 * and a source's address does not change while it serves.
 */
export class NodeDirectory {
  private readonly options: NodeDirectoryOptions;
  private readonly clock: () => number;
  private snapshot: Snapshot | undefined;
  private reading: Promise<Snapshot> | undefined;
  private reads = 0;

  constructor(options: NodeDirectoryOptions) {
    this.options = options;
    this.clock = options.clock ?? (() => performance.now());
  }

  /** Reads of Consul made so far (each: the node records and the session list). */
  get readCount(): number {
    return this.reads;
  }

  /** The node's record as of at most maxAgeMs ago; undefined when it has none (or it is unreadable). */
  async get(name: string, options: CallOptions = {}): Promise<NodeRecordView | undefined> {
    const snapshot = await this.fresh(options.signal);
    return snapshot.nodes.get(name);
  }

  private async fresh(signal: AbortSignal | undefined): Promise<Snapshot> {
    const current = this.snapshot;
    if (current !== undefined && this.clock() - current.readAt < (this.options.maxAgeMs ?? 300)) {
      return current;
    }
    this.reading ??= this.read().finally(() => {
      this.reading = undefined;
    });
    const reading = this.reading;
    if (signal === undefined) return reading;
    signal.throwIfAborted();
    return new Promise<Snapshot>((resolve, reject) => {
      const onAbort = (): void => {
        reject(signal.reason instanceof Error ? signal.reason : new Error("aborted"));
      };
      signal.addEventListener("abort", onAbort, { once: true });
      reading.then(resolve, reject).finally(() => {
        signal.removeEventListener("abort", onAbort);
      });
    });
  }

  private async read(): Promise<Snapshot> {
    const { kv, sessions, keys } = this.options;
    const options = this.options.signal === undefined ? {} : { signal: this.options.signal };
    const startedAt = this.clock();
    this.reads += 1;
    const [entries, live] = await Promise.all([
      kv.list(keys.nodes(), options),
      sessions.liveSessions(options),
    ]);
    const nodes = new Map<string, NodeRecordView>();
    for (const entry of entries) {
      const name = keys.parseNode(entry.key);
      if (name === undefined) continue;
      try {
        nodes.set(name, nodeRecordView(name, parseNodeRecord(entry.value, entry.key), live));
      } catch {
        // Unreadable: like no record.
      }
    }
    // Its age counts from when the read started: nothing older than that is in it.
    const snapshot = { readAt: startedAt, nodes };
    this.snapshot = snapshot;
    return snapshot;
  }
}
