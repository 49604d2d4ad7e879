import type { BlockingIndex, BlockingOptions, KvEntry, KvStore } from "./kv-store.js";
import { isAborted } from "../util/abort.js";
import { invalidField, SanpathError } from "../errors/sanpath-error.js";
import { jitteredBackoffMs, pause } from "../util/pause.js";

export interface WatchOptions {
  /** Ends the watch: the iteration finishes normally (no error). */
  signal: AbortSignal;
  /** How long each blocking query may wait (1..600 s, default 60). */
  waitSeconds?: number;
  /** Told about every failed query; the watch itself keeps going. */
  onError?: (error: SanpathError) => void;
  /** First back-off after a failure (default 100 ms); doubles up to maxBackoffMs (default 5 s). */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

export interface PrefixSnapshot {
  /** The store's index of this state. */
  index: number;
  entries: KvEntry[];
}

export interface KeySnapshot {
  index: number;
  /** undefined while the key does not exist. */
  entry: KvEntry | undefined;
}

/**
 * Follows every key under `prefix` with blocking queries. Yields the current state first, then
 * again each time Consul's index changes. Survives Consul going away (agent restart, leader
 * election, timeouts): failures go to onError, the watch backs off (capped, jittered) and resumes
 * with a fresh (non-blocking) read, which it yields if its index differs from the last one yielded;
 * when the index goes backwards (a restarted agent) it also starts over from a fresh read. Never throws
 * because Consul is unreachable; ends when `signal` aborts or the consumer stops iterating.
 */
export function watchPrefix(
  kv: KvStore,
  prefix: string,
  options: WatchOptions,
): AsyncIterable<PrefixSnapshot> {
  return follow(
    options,
    (blocking) => kv.listBlocking(prefix, blocking),
    ({ index, entries }) => ({ index, entries }),
  );
}

/** Follows one key; see watchPrefix. */
export function watchKey(kv: KvStore, key: string, options: WatchOptions): AsyncIterable<KeySnapshot> {
  return follow(
    options,
    (blocking) => kv.getBlocking(key, blocking),
    ({ index, entry }) => ({ index, entry }),
  );
}

async function* follow<R extends BlockingIndex, S>(
  options: WatchOptions,
  query: (blocking: BlockingOptions) => Promise<R>,
  snapshot: (answer: R) => S,
): AsyncGenerator<S, void, undefined> {
  const { signal } = options;
  const waitSeconds = options.waitSeconds ?? 60;
  const minBackoffMs = options.minBackoffMs ?? 100;
  const maxBackoffMs = options.maxBackoffMs ?? 5000;
  if (!(minBackoffMs > 0) || !(maxBackoffMs >= minBackoffMs)) {
    throw invalidField("watch.backoff", "needs 0 < minBackoffMs <= maxBackoffMs");
  }
  // The index the next query blocks on, and the index of the last state yielded.
  let index = 0;
  let yielded: number | undefined;
  let failures = 0;
  while (!signal.aborted) {
    let answer: R;
    try {
      answer = await query({ index, waitSeconds, signal });
    } catch (error) {
      if (isAborted(signal)) return;
      // A bad argument is a bug of the caller, not an outage: retrying cannot help.
      if (error instanceof SanpathError && error.kind === "invalid_argument") throw error;
      options.onError?.(
        error instanceof SanpathError
          ? error
          : new SanpathError("internal", "watch query failed", { cause: error }),
      );
      failures += 1;
      // After a failure the index may belong to an agent that is gone: a restarted one counts from
      // scratch and would hold a query on an index it has not reached yet. Read afresh.
      index = 0;
      if (!(await pause(jitteredBackoffMs(failures, minBackoffMs, maxBackoffMs), signal))) return;
      continue;
    }
    failures = 0;
    if (answer.reset) {
      // Consul's index went backwards: read afresh (index 0 answers at once).
      index = 0;
      continue;
    }
    index = answer.index;
    if (answer.index === yielded) continue;
    yielded = answer.index;
    yield snapshot(answer);
  }
}
