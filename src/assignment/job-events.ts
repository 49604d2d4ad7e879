import type { KvStore } from "../kv/kv-store.js";
import { isAborted } from "../util/abort.js";
import type { ConsulKeys } from "../consul/keys.js";
import { errorMessage, SanpathError } from "../errors/sanpath-error.js";
import { parseJobEvent, type JobEvent } from "./job-model.js";
import { pause } from "../util/pause.js";

/** Every event of a job in sequence order. */
export async function readJobEvents(
  kv: KvStore,
  keys: ConsulKeys,
  jobId: string,
  options: { signal?: AbortSignal } = {},
): Promise<JobEvent[]> {
  const entries = await kv.list(keys.assignmentEvents(jobId), options);
  const events: JobEvent[] = [];
  for (const entry of entries) {
    if (keys.parseAssignmentEvent(jobId, entry.key) === undefined) continue;
    events.push(parseJobEvent(entry.value, entry.key));
  }
  return events.sort((a, b) => a.sequence - b.sequence);
}

export interface FollowOptions {
  signal: AbortSignal;
  /** Events with a higher sequence are yielded (0: all). */
  afterSequence: number;
  /** End after the job's "finished" event. */
  stopWhenDone: boolean;
  /** Blocking-query wait (default 30 s). */
  waitSeconds?: number;
  /** Told about Consul failures; following goes on after a back-off. */
  onError?: (error: unknown) => void;
}

/**
 * A job's events from Consul, from `afterSequence` on, as they are written: first what is there
 * (one list), then one event key at a time with blocking reads of the next sequence's key. Any node
 * can follow any job this way; the log has no gaps, so waiting for sequence n+1 misses nothing.
 * Ends after the "finished" event when `stopWhenDone`, else when `signal` aborts.
 */
export async function* followJobEvents(
  kv: KvStore,
  keys: ConsulKeys,
  jobId: string,
  options: FollowOptions,
): AsyncGenerator<JobEvent, void, undefined> {
  const { signal } = options;
  let next = options.afterSequence + 1;
  let finished = false;
  for (;;) {
    try {
      const existing = await readJobEvents(kv, keys, jobId, { signal });
      for (const event of existing) {
        if (event.sequence < next) continue;
        if (event.sequence > next) break;
        yield event;
        next += 1;
        if (event.body.kind === "finished") finished = true;
      }
      break;
    } catch (error) {
      if (signal.aborted) return;
      if (error instanceof SanpathError && error.kind !== "unavailable") throw error;
      options.onError?.(error);
      if (!(await pause(500, signal))) return;
    }
  }
  if (finished && options.stopWhenDone) return;

  let index = 0;
  let failures = 0;
  while (!signal.aborted) {
    if (finished) {
      // Nothing follows a finished event: wait for the caller to stop.
      await pause(2 ** 31 - 1, signal);
      return;
    }
    let answer;
    try {
      answer = await kv.getBlocking(keys.assignmentEvent(jobId, next), {
        index,
        waitSeconds: options.waitSeconds ?? 30,
        signal,
      });
    } catch (error) {
      if (isAborted(signal)) return;
      if (error instanceof SanpathError && error.kind === "invalid_argument") throw error;
      options.onError?.(error);
      failures += 1;
      index = 0;
      if (!(await pause(Math.min(5000, 100 * 2 ** Math.min(failures, 6)), signal))) return;
      continue;
    }
    failures = 0;
    if (answer.entry === undefined) {
      index = answer.index;
      continue;
    }
    let event: JobEvent;
    try {
      event = parseJobEvent(answer.entry.value, answer.entry.key);
    } catch (error) {
      throw new SanpathError("data_loss", `event ${next} of job ${jobId}: ${errorMessage(error)}`, {
        reason: "METADATA_UNREADABLE",
        cause: error,
      });
    }
    yield event;
    next += 1;
    // The next event is often written already (batches): read it at once.
    index = 0;
    if (event.body.kind === "finished") {
      finished = true;
      if (options.stopWhenDone) return;
    }
  }
}
