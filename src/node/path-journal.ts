import { isIPv4 } from "node:net";
import type { Logger } from "../log/logger.js";
import { CoalescingFileWriter } from "../util/coalescing-file-writer.js";
import { readTextFile } from "../util/text-file.js";

/**
 * - configuring: AcquirePath (or reconcile) is setting the path up; parts of it may be there.
 * - served: target, IP and portal are configured and the lock was held when it was done.
 * - cleaning: CleanPath (or reconcile) gives the path up; the lock may still need releasing.
 */
export type LocalPathState = "configuring" | "served" | "cleaning";

/** A path as configured (or being configured) on this node. */
export interface LocalPath {
  readonly diskId: string;
  readonly index: number;
  readonly ip: string;
  readonly prefixLength: number;
  /** The physical interface; the address sits on `<interface>.<vlanId>` when vlanId is set. */
  readonly interface: string;
  readonly vlanId: number | undefined;
  readonly iqn: string;
  readonly state: LocalPathState;
}

/** "00001/2": how paths are keyed on the node (the tail of the Consul path key). */
export function pathKeyOf(diskId: string, index: number): string {
  return `${diskId}/${index}`;
}

const STATES: readonly LocalPathState[] = ["configuring", "served", "cleaning"];

/**
 * Every path this node may have configured locally, written to a file in the data folder BEFORE
 * anything is configured (write-ahead) and removed only after the path is torn down. A daemon that
 * was killed finds in it what it may have left behind (IPs, portals, targets) and removes that before
 * it creates a new Consul session.
 */
export class PathJournal {
  private readonly entries = new Map<string, LocalPath>();
  private epoch = 0;
  private readonly writer: CoalescingFileWriter | undefined;

  private constructor(private readonly file: string | undefined) {
    this.writer =
      file === undefined
        ? undefined
        : new CoalescingFileWriter(
            file,
            () =>
              `${JSON.stringify({ version: 1, highestEpoch: this.epoch, paths: this.values() }, null, 2)}\n`,
          );
  }

  /** Loads the journal file (a missing file is an empty journal); `file` undefined = memory only. */
  static async open(file: string | undefined, logger?: Logger): Promise<PathJournal> {
    const journal = new PathJournal(file);
    if (file === undefined) return journal;
    const text = await readTextFile(file);
    if (text === undefined) return journal;
    const warn = (problem: string): void => logger?.warn({ file, problem }, "path journal");
    for (const entry of parseJournal(text, warn)) {
      journal.entries.set(pathKeyOf(entry.diskId, entry.index), entry);
    }
    journal.epoch = parseHighestEpoch(text);
    return journal;
  }

  /**
   * The highest coordinator epoch this node has admitted (0: none), kept here so that a restarted
   * node still refuses a coordinator that has been replaced (see epoch-gate.ts).
   */
  get highestEpoch(): number {
    return this.epoch;
  }

  /** Records a higher epoch; resolves once it is on disk (a lower or equal one changes nothing). */
  async raiseHighestEpoch(epoch: number): Promise<void> {
    if (epoch <= this.epoch) return;
    this.epoch = epoch;
    await this.persist();
  }

  get(key: string): LocalPath | undefined {
    return this.entries.get(key);
  }

  values(): LocalPath[] {
    return [...this.entries.values()];
  }

  /** The paths fully set up here (state "served"). */
  served(): LocalPath[] {
    return this.values().filter((entry) => entry.state === "served");
  }

  keys(): string[] {
    return [...this.entries.keys()];
  }

  byIp(ip: string): LocalPath | undefined {
    return this.values().find((entry) => entry.ip === ip);
  }

  /** Records the entry; resolves once it is on disk. */
  async put(entry: LocalPath): Promise<void> {
    this.entries.set(pathKeyOf(entry.diskId, entry.index), entry);
    await this.persist();
  }

  /**
   * Changes an entry's state; resolves once it is on disk, unless `durable` is false: then the
   * change is in memory at once and goes to disk with the next write (for a state nothing after a
   * crash depends on: a restarted daemon removes every journalled path whatever its state).
   */
  async setState(key: string, state: LocalPathState, { durable = true } = {}): Promise<void> {
    const entry = this.entries.get(key);
    if (entry === undefined || entry.state === state) return;
    if (!durable) {
      this.entries.set(key, { ...entry, state });
      return;
    }
    await this.put({ ...entry, state });
  }

  async remove(key: string): Promise<void> {
    if (!this.entries.delete(key)) return;
    await this.persist();
  }

  /** Resolves once the writes under way (those not waited for, too) are done. */
  async flush(): Promise<void> {
    await this.writer?.flush();
  }

  /** Resolves once the state as it is now is on disk (changes made meanwhile share the write). */
  private persist(): Promise<void> {
    return this.writer?.write() ?? Promise.resolve();
  }
}

function parseHighestEpoch(text: string): number {
  try {
    const value = (JSON.parse(text) as { highestEpoch?: unknown } | null)?.highestEpoch;
    return typeof value === "number" && Number.isSafeInteger(value) && value > 0 ? value : 0;
  } catch {
    return 0;
  }
}

function parseJournal(text: string, warn: (problem: string) => void): LocalPath[] {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    warn("the file is not JSON: ignored");
    return [];
  }
  const paths =
    typeof value === "object" && value !== null ? (value as { paths?: unknown }).paths : undefined;
  if (!Array.isArray(paths)) {
    warn("the file has no paths list: ignored");
    return [];
  }
  const entries: LocalPath[] = [];
  for (const item of paths as unknown[]) {
    const entry = toLocalPath(item);
    if (entry === undefined) warn(`an entry is malformed and ignored: ${JSON.stringify(item).slice(0, 200)}`);
    else entries.push(entry);
  }
  return entries;
}

function toLocalPath(item: unknown): LocalPath | undefined {
  if (typeof item !== "object" || item === null) return undefined;
  const record = item as Record<string, unknown>;
  const { diskId, index, ip, prefixLength, interface: iface, vlanId, iqn, state } = record;
  if (typeof diskId !== "string" || !/^[0-9]{5}$/.test(diskId)) return undefined;
  if (typeof index !== "number" || !Number.isInteger(index) || index < 1 || index > 8) return undefined;
  if (typeof ip !== "string" || !isIPv4(ip)) return undefined;
  if (typeof prefixLength !== "number" || !Number.isInteger(prefixLength)) return undefined;
  if (typeof iface !== "string" || iface === "") return undefined;
  if (vlanId !== undefined && (typeof vlanId !== "number" || !Number.isInteger(vlanId))) return undefined;
  if (typeof iqn !== "string" || iqn === "") return undefined;
  if (typeof state !== "string" || !(STATES as readonly string[]).includes(state)) return undefined;
  return {
    diskId,
    index,
    ip,
    prefixLength,
    interface: iface,
    vlanId,
    iqn,
    state: state as LocalPathState,
  };
}
