/**
 * What the crash guard reads on its stdin (the pipe from sanpathd), line by line: CLEAN_EXIT_LINE,
 * RESTART_EXIT_LINE, or `lease-until <ms>` (LEASE_UNTIL_PREFIX; crash-guard.ts has the protocol).
 * Pure: the lines drive a LeaseTimer and decide what the guard does when the pipe closes; the
 * process (crash-guard-main.ts) feeds the chunks and acts.
 */
import { CLEAN_EXIT_LINE, LEASE_UNTIL_PREFIX, RESTART_EXIT_LINE } from "./crash-guard.js";
import type { LeaseOffer, LeaseTimer } from "./lease-timer.js";

/** How sanpathd said it stopped when the pipe closes (nothing said: it crashed). */
export type ParentSaid = "clean" | "restart" | "crash";

/** One line that was not understood (logged by the guard, otherwise ignored). */
export interface IgnoredLine {
  /** The line, cut to MAX_LINE_CHARS. */
  readonly line: string;
  readonly problem: string;
}

export interface GuardInputOptions {
  lease: LeaseTimer;
  /** Each lease-until line's outcome (for the log). */
  onLease?: (offer: LeaseOffer) => void;
  onIgnored?: (ignored: IgnoredLine) => void;
}

/** Longer lines are not sanpathd's: they are dropped (reported cut to this length). */
export const MAX_LINE_CHARS = 256;

const LEASE_UNTIL = new RegExp(`^${LEASE_UNTIL_PREFIX} ([0-9]{1,16}(?:\\.[0-9]{1,9})?)$`);

/**
 * The deadline of a `lease-until <ms>` line (a non-negative decimal, CLOCK_MONOTONIC ms), or the
 * problem with it; undefined for a line of another kind.
 */
export function parseLeaseUntilLine(line: string): { deadlineMs: number } | { problem: string } | undefined {
  if (line !== LEASE_UNTIL_PREFIX && !line.startsWith(`${LEASE_UNTIL_PREFIX} `)) return undefined;
  const value = LEASE_UNTIL.exec(line)?.[1];
  const deadlineMs = value === undefined ? Number.NaN : Number(value);
  if (!Number.isFinite(deadlineMs) || deadlineMs > Number.MAX_SAFE_INTEGER)
    return { problem: `expected "${LEASE_UNTIL_PREFIX} <ms>" with ms a non-negative decimal` };
  return { deadlineMs };
}

export class GuardInput {
  private partial = "";
  private overlong = false;
  private saidSoFar: ParentSaid = "crash";

  constructor(private readonly options: GuardInputOptions) {}

  /** What sanpathd has said so far (what the guard does if the pipe closes now). */
  get said(): ParentSaid {
    return this.saidSoFar;
  }

  /** A chunk of stdin (any split: a line may span chunks). */
  push(chunk: string): void {
    const lines = (this.partial + chunk).split("\n");
    this.partial = lines.pop() ?? "";
    for (const line of lines) {
      if (this.overlong) {
        this.overlong = false;
        this.ignore(line, "line too long");
      } else this.line(line);
    }
    if (this.partial.length > MAX_LINE_CHARS) {
      this.overlong = true;
      this.partial = this.partial.slice(0, MAX_LINE_CHARS + 1);
    }
  }

  /**
   * The pipe closed: a last line without its newline counts (sanpathd may have died while writing
   * it, but clean-exit and restart-exit are whole or absent). Returns what sanpathd said; the
   * lease timer is cancelled: a closed pipe is acted on at once.
   */
  end(): ParentSaid {
    const rest = this.partial;
    this.partial = "";
    if (this.overlong) this.ignore(rest, "line too long");
    else if (rest !== "") this.line(rest);
    this.options.lease.cancel();
    return this.saidSoFar;
  }

  private line(raw: string): void {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (line === "") return;
    if (line.length > MAX_LINE_CHARS) {
      this.ignore(line, "line too long");
      return;
    }
    if (line === CLEAN_EXIT_LINE || line === RESTART_EXIT_LINE) {
      // The last word before the pipe closes; no lease deadline counts after it.
      this.saidSoFar = line === CLEAN_EXIT_LINE ? "clean" : "restart";
      this.options.lease.cancel();
      return;
    }
    const lease = parseLeaseUntilLine(line);
    if (lease === undefined) {
      this.ignore(line, "unknown line");
      return;
    }
    if ("problem" in lease) {
      this.ignore(line, lease.problem);
      return;
    }
    this.options.onLease?.(this.options.lease.offer(lease.deadlineMs));
  }

  private ignore(line: string, problem: string): void {
    this.options.onIgnored?.({ line: line.slice(0, MAX_LINE_CHARS), problem });
  }
}
