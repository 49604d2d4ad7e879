import { readTextFile } from "../util/text-file.js";
import { SanpathError } from "../errors/sanpath-error.js";
import { CoalescingFileWriter } from "../util/coalescing-file-writer.js";

/**
 * Which portals (ip:port) are enabled for which target IQN.
 *
 * tgtd listens on portals node-wide and has no notion of "target T at portal P", so the tgt
 * driver remembers the pairing itself: in memory, and in `file` when given so that a restarted
 * sanpathd still knows what it enabled (tgtd keeps running across sanpathd restarts).
 */
export class PortalPairings {
  private readonly byIqn = new Map<string, Set<string>>();
  private loaded = false;
  private loading: Promise<void> | undefined;
  private readonly writer: CoalescingFileWriter | undefined;

  constructor(private readonly file?: string) {
    this.writer = file === undefined ? undefined : new CoalescingFileWriter(file, () => this.render());
  }

  static key(ip: string, port: number): string {
    return `${ip}:${port}`;
  }

  static split(key: string): { ip: string; port: number } {
    const at = key.lastIndexOf(":");
    return { ip: key.slice(0, at), port: Number(key.slice(at + 1)) };
  }

  async load(): Promise<void> {
    if (this.loaded) return;
    this.loading ??= this.readStateFile().finally(() => {
      this.loading = undefined;
    });
    await this.loading;
  }

  private async readStateFile(): Promise<void> {
    if (this.file !== undefined) {
      const text = await readTextFile(this.file);
      if (text !== undefined) this.restore(text);
    }
    this.loaded = true;
  }

  portalsOf(iqn: string): string[] {
    return [...(this.byIqn.get(iqn) ?? [])].sort();
  }

  iqnsAt(key: string): string[] {
    return [...this.byIqn.entries()].filter(([, keys]) => keys.has(key)).map(([iqn]) => iqn);
  }

  has(iqn: string, key: string): boolean {
    return this.byIqn.get(iqn)?.has(key) === true;
  }

  /** Returns true when something changed. */
  add(iqn: string, key: string): boolean {
    const keys = this.byIqn.get(iqn) ?? new Set<string>();
    if (keys.has(key)) return false;
    keys.add(key);
    this.byIqn.set(iqn, keys);
    return true;
  }

  remove(iqn: string, key: string): boolean {
    const keys = this.byIqn.get(iqn);
    if (keys?.delete(key) !== true) return false;
    if (keys.size === 0) this.byIqn.delete(iqn);
    return true;
  }

  forget(iqn: string): boolean {
    return this.byIqn.delete(iqn);
  }

  /** Resolves once the pairings as they are now are on disk (saves asked for meanwhile share the write). */
  save(): Promise<void> {
    return this.writer?.write() ?? Promise.resolve();
  }

  private render(): string {
    const portals: Record<string, string[]> = {};
    for (const iqn of [...this.byIqn.keys()].sort()) portals[iqn] = this.portalsOf(iqn);
    return `${JSON.stringify({ version: 1, portals }, null, 2)}\n`;
  }

  private restore(text: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new SanpathError("internal", `${this.file ?? "state file"}: not JSON`, {
        reason: "DRIVER_FAILED",
        cause: error,
      });
    }
    const portals = (parsed as { portals?: unknown }).portals;
    if (typeof portals !== "object" || portals === null) return;
    for (const [iqn, keys] of Object.entries(portals)) {
      if (!Array.isArray(keys)) continue;
      for (const key of keys) if (typeof key === "string") this.add(iqn, key);
    }
  }
}
