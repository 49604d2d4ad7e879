/**
 * Watches where path IPs are up: every `intervalMs` it reads `ip -j -4 addr show` in every node
 * namespace and records
 *   - overlaps: a path IP up on two nodes in the same round (the one thing that must never happen);
 *   - unserved intervals: a path IP up on no node, from the round it vanished to the round it was
 *     back (for IPs seen up at least once, or declared with expect());
 *   - presence changes: each round a path IP appeared on or vanished from a node (the first round
 *     counts what it finds as appeared).
 *
 * One long-lived `ip -n <ns> -j -4 -batch -` per namespace answers each "addr show" line in well
 * under a millisecond, so rounds cost no process start; all namespaces are asked at once, so one
 * round is as close to one instant as it gets (a move's clean→acquire takes far longer).
 *
 *   const sampler = startAddressSampler({ nodes: [{ name: "node1", netns: "spdev-node1" }, …] });
 *   … scenario …
 *   const report = await sampler.stop();
 *   expect(report.overlaps).toEqual([]);
 *   expect(longestUnserved(report, ip)).toBeLessThan(boundMs);
 */
import { execa } from "execa";
import { isDocumentationAddress } from "../netns/documentation-ranges.js";

export interface SamplerNode {
  name: string;
  netns: string;
}

export interface AddressOverlap {
  ip: string;
  nodes: string[];
  /** Date.now() of the round. */
  at: number;
}

export interface PresenceChange {
  /** Date.now() of the round. */
  at: number;
  ip: string;
  node: string;
  /** Appeared on the node (true) or vanished from it (false). */
  present: boolean;
}

export interface UnservedInterval {
  ip: string;
  /** Date.now() of the first round without a holder. */
  from: number;
  /** Date.now() of the first round with a holder again; undefined = still unserved at stop(). */
  to: number | undefined;
  /** to − from, or stop time − from while still unserved. */
  durationMs: number;
}

export interface SamplerReport {
  rounds: number;
  startedAt: number;
  stoppedAt: number;
  /** Longest gap between two rounds (the sampler's own resolution). */
  maxRoundGapMs: number;
  overlaps: AddressOverlap[];
  unserved: UnservedInterval[];
  changes: PresenceChange[];
  /** Holders per IP at the last round. */
  holders: Map<string, string[]>;
}

export interface AddressSampler {
  readonly rounds: number;
  /** Holders per IP at the last round. */
  holders(): Map<string, string[]>;
  /** These IPs should be served from now on (counted as unserved until they appear). */
  expect(ips: Iterable<string>): void;
  /** Stops following these IPs (a deleted disk). */
  forget(ips: Iterable<string>): void;
  /** Resolves after the next complete round. */
  nextRound(): Promise<void>;
  /** The presence changes seen so far (a copy). */
  changesSoFar(): PresenceChange[];
  stop(): Promise<SamplerReport>;
}

export interface SamplerOptions {
  nodes: readonly SamplerNode[];
  /** Pause between rounds; default 5 ms. */
  intervalMs?: number;
  /** Which addresses are path IPs; default: any documentation-range address not on eth0. */
  isPathAddress?: (ip: string, ifname: string) => boolean;
}

interface BatchReader {
  process: ReturnType<typeof spawnBatch>;
  pending: ((line: string) => void)[];
  buffer: string;
}

const defaultIsPathAddress = (ip: string, ifname: string): boolean =>
  ifname !== "eth0" && ifname !== "lo" && isDocumentationAddress(ip);

export function startAddressSampler(options: SamplerOptions): AddressSampler {
  const intervalMs = options.intervalMs ?? 5;
  const isPathAddress = options.isPathAddress ?? defaultIsPathAddress;
  const lifetime = new AbortController();
  const readers = options.nodes.map((node) => openReader(node.netns, lifetime.signal));
  const overlaps: AddressOverlap[] = [];
  const unserved: UnservedInterval[] = [];
  const changes: PresenceChange[] = [];
  const present = new Map<string, Set<string>>();
  const followed = new Set<string>();
  const unservedSince = new Map<string, number>();
  let holders = new Map<string, string[]>();
  let rounds = 0;
  let lastRoundAt: number | undefined;
  let maxRoundGapMs = 0;
  let failure: unknown;
  let roundWaiters: (() => void)[] = [];
  const startedAt = Date.now();

  const stopping = (): boolean => lifetime.signal.aborted;
  const loop = (async () => {
    while (!stopping()) {
      let answers: string[];
      const at = Date.now();
      try {
        answers = await Promise.all(readers.map((reader) => ask(reader, "addr show\n")));
      } catch (error) {
        if (!stopping()) failure = error;
        break;
      }
      const now = new Map<string, string[]>();
      for (const [index, answer] of answers.entries()) {
        const node = options.nodes[index];
        if (node === undefined) continue;
        const ips = new Set(pathAddresses(answer, isPathAddress));
        const before = present.get(node.name) ?? new Set<string>();
        for (const ip of ips) if (!before.has(ip)) changes.push({ at, ip, node: node.name, present: true });
        for (const ip of before) if (!ips.has(ip)) changes.push({ at, ip, node: node.name, present: false });
        present.set(node.name, ips);
        for (const ip of ips) now.set(ip, [...(now.get(ip) ?? []), node.name]);
      }
      for (const [ip, names] of now) {
        followed.add(ip);
        if (names.length > 1) overlaps.push({ ip, nodes: names, at });
      }
      for (const ip of followed) {
        const since = unservedSince.get(ip);
        if (now.has(ip)) {
          if (since !== undefined) {
            unserved.push({ ip, from: since, to: at, durationMs: at - since });
            unservedSince.delete(ip);
          }
        } else if (since === undefined) {
          unservedSince.set(ip, at);
        }
      }
      holders = now;
      rounds += 1;
      if (lastRoundAt !== undefined) maxRoundGapMs = Math.max(maxRoundGapMs, at - lastRoundAt);
      lastRoundAt = at;
      const waiters = roundWaiters;
      roundWaiters = [];
      for (const waiter of waiters) waiter();
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  })();

  let stopped: Promise<SamplerReport> | undefined;
  return {
    get rounds() {
      return rounds;
    },
    holders: () => holders,
    expect(ips) {
      const at = Date.now();
      for (const ip of ips) {
        if (followed.has(ip)) continue;
        followed.add(ip);
        if (!holders.has(ip)) unservedSince.set(ip, at);
      }
    },
    forget(ips) {
      for (const ip of ips) {
        followed.delete(ip);
        unservedSince.delete(ip);
      }
    },
    nextRound() {
      if (failure !== undefined)
        return Promise.reject(new Error("the address sampler failed", { cause: failure }));
      return new Promise((resolve) => roundWaiters.push(resolve));
    },
    changesSoFar() {
      return [...changes];
    },
    stop() {
      stopped ??= (async () => {
        lifetime.abort();
        await loop;
        for (const reader of readers) {
          reader.process.stdin.end();
          await reader.process.catch(() => undefined);
        }
        for (const waiter of roundWaiters) waiter();
        if (failure !== undefined) throw new Error("the address sampler failed", { cause: failure });
        const stoppedAt = Date.now();
        const open = [...unservedSince].map(([ip, from]) => ({
          ip,
          from,
          to: undefined,
          durationMs: stoppedAt - from,
        }));
        return {
          rounds,
          startedAt,
          stoppedAt,
          maxRoundGapMs,
          overlaps,
          unserved: [...unserved, ...open],
          changes,
          holders,
        };
      })();
      return stopped;
    },
  };
}

/** The longest time `ip` was up on no node during the sampling (0 when never). */
export function longestUnserved(report: SamplerReport, ip: string): number {
  return Math.max(0, ...report.unserved.filter((gap) => gap.ip === ip).map((gap) => gap.durationMs));
}

function spawnBatch(netns: string, signal: AbortSignal) {
  return execa("ip", ["-n", netns, "-j", "-4", "-batch", "-"], {
    stdin: "pipe",
    stdout: "pipe",
    stderr: "pipe",
    buffer: false,
    // A sampler runs for one scenario; this only stops a forgotten one.
    timeout: 60 * 60_000,
    cancelSignal: signal,
    reject: false,
  });
}

function openReader(netns: string, signal: AbortSignal): BatchReader {
  const child = spawnBatch(netns, signal);
  const reader: BatchReader = { process: child, pending: [], buffer: "" };
  child.stdout.setEncoding("utf8");
  child.stdout.on("data", (chunk: string) => {
    reader.buffer += chunk;
    let newline = reader.buffer.indexOf("\n");
    while (newline >= 0) {
      const line = reader.buffer.slice(0, newline);
      reader.buffer = reader.buffer.slice(newline + 1);
      reader.pending.shift()?.(line);
      newline = reader.buffer.indexOf("\n");
    }
  });
  return reader;
}

function ask(reader: BatchReader, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`no answer from ${reader.process.spawnargs.join(" ")}`)),
      5000,
    );
    reader.pending.push((line) => {
      clearTimeout(timer);
      resolve(line);
    });
    reader.process.stdin.write(command);
  });
}

/** Path IPs in one `ip -j addr show` answer. */
export function pathAddresses(
  json: string,
  isPathAddress: (ip: string, ifname: string) => boolean,
): string[] {
  const links = JSON.parse(json) as unknown;
  if (!Array.isArray(links)) return [];
  const ips: string[] = [];
  for (const link of links as unknown[]) {
    const { ifname, addr_info: addresses } = (link ?? {}) as { ifname?: unknown; addr_info?: unknown };
    if (typeof ifname !== "string" || !Array.isArray(addresses)) continue;
    for (const address of addresses as unknown[]) {
      const { local, family } = (address ?? {}) as { local?: unknown; family?: unknown };
      if (family === "inet" && typeof local === "string" && isPathAddress(local, ifname)) ips.push(local);
    }
  }
  return ips;
}
