import type { ConsulKeys } from "../consul/keys.js";
import { errorMessage } from "../errors/sanpath-error.js";
import type { KvStore } from "../kv/kv-store.js";
import type { Logger } from "../log/logger.js";
import { pause } from "../util/pause.js";
import { parseNodeRecord } from "./node-record.js";
import type { LeaseMembers } from "./peer-lease-keeper.js";

export interface LeaseMembershipOptions {
  readonly kv: KvStore;
  readonly keys: ConsulKeys;
  /** This node's name: always a member, never a peer. */
  readonly self: string;
  readonly logger: Logger;
  /** How often the node records are read again (default 2 s). */
  readonly refreshMs?: number;
}

/**
 * Who is in the cluster, for peer leases: every node with a node record in Consul (offline ones
 * too: a dead node still counts towards the majority, or two of three nodes dying would leave a
 * "majority" of one). Read again every few seconds; while Consul does not answer, the last list
 * stands. Until the first read the size is unknown, and no lease is held.
 *
 * The size never shrinks while the process runs (a removed node's record going away changes nothing
 * until a restart): a larger size only makes a lease harder to hold and a proof harder to make.
 *
 * A node record appearing changes the size by one between two reads; a holder and an observer that
 * disagree by one still need majorities that share a node (n and n + 1 nodes: ⌊n/2⌋ + 1 +
 * ⌊(n+1)/2⌋ + 1 = n + 2 > n + 1), so the lease rules stay safe across it. Two nodes joining while a
 * node cannot read Consul could leave it two behind: nodes are added one at a time, each once every
 * node's Status shows it in the cluster size (docs/DEPLOY.md).
 */
export class LeaseMembership {
  private members: LeaseMembers = { peers: [], size: undefined };
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;
  private failures = 0;

  constructor(private readonly options: LeaseMembershipOptions) {}

  current(): LeaseMembers {
    return this.members;
  }

  /** Reads the node records once (throws when Consul does not answer). */
  async refresh(signal?: AbortSignal): Promise<void> {
    const { kv, keys, self, logger } = this.options;
    const entries = await kv.list(keys.nodes(), {
      ...(signal === undefined ? {} : { signal }),
      timeoutMs: 5000,
    });
    const peers: { name: string; address: string }[] = [];
    const names = new Set<string>([self]);
    for (const entry of entries) {
      const name = keys.parseNode(entry.key);
      if (name === undefined) continue;
      if (name === self) continue;
      try {
        const record = parseNodeRecord(entry.value, entry.key);
        // The lease worker's own listener when the node has one; else its main port.
        peers.push({ name, address: record.leaseAddress ?? record.address });
        names.add(name);
      } catch (error) {
        // Not a member: a record nobody can read names no node that could grant or hold a lease
        // (one corrupt record must not cost the cluster its majority).
        logger.warn({ key: entry.key, err: errorMessage(error) }, "unreadable node record: not counted");
      }
    }
    peers.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    this.members = { peers, size: Math.max(names.size, this.members.size ?? 0) };
  }

  /** Reads at once, then every refreshMs, until stop(). */
  start(): void {
    this.loop ??= this.run();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    const { signal } = this.stopping;
    while (!signal.aborted) {
      try {
        await this.refresh(signal);
        this.failures = 0;
      } catch (error) {
        this.failures += 1;
        if (this.failures === 1 || this.failures % 30 === 0) {
          this.options.logger.warn(
            { err: errorMessage(error), failures: this.failures },
            "cluster members not readable; the last list stands",
          );
        }
      }
      if (!(await pause(this.options.refreshMs ?? 2000, signal))) return;
    }
  }
}
