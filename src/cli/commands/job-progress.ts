import { setTimeout as sleep } from "node:timers/promises";
import { status as Status, type ServiceError } from "@grpc/grpc-js";
import {
  JobState,
  jobStateToJSON,
  moveStatusToJSON,
  type MoveStatus,
  PathPhase,
  pathPhaseToJSON,
  WatchReassignmentResponse,
  type JobTotals,
  type PathEvent,
} from "../../gen/sanpath/v1/assignment.js";
import type { CliSession } from "../client.js";
import { EXIT_FAILED, EXIT_OK } from "../errors.js";

/** "JOB_STATE_PARTIALLY_FAILED" → "partially failed". */
export function stateName(state: JobState): string {
  return jobStateToJSON(state)
    .replace(/^JOB_STATE_/, "")
    .replaceAll("_", " ")
    .toLowerCase();
}

export function phaseName(phase: PathPhase): string {
  return pathPhaseToJSON(phase)
    .replace(/^PATH_PHASE_/, "")
    .toLowerCase();
}

export function moveStatusName(status: MoveStatus): string {
  return moveStatusToJSON(status)
    .replace(/^MOVE_STATUS_/, "")
    .toLowerCase();
}

/** A job's exit code: 0 when every move succeeded, 1 otherwise (failed, partially failed, cancelled). */
export function exitCodeOf(state: JobState): number {
  return state === JobState.JOB_STATE_SUCCEEDED ? EXIT_OK : EXIT_FAILED;
}

/** How a path reads in progress lines: "00003/1 198.51.100.13 a → d". */
function pathLabel(path: PathEvent): string {
  const from = path.sourceNode === "" ? "(free)" : path.sourceNode;
  return `${path.diskId}/${path.index} ${path.ip} ${from} → ${path.targetNode}`;
}

/** One line per event, for logs and pipes. */
export function eventLine(event: WatchReassignmentResponse): string {
  const head = `#${event.sequence}`;
  if (event.path !== undefined) {
    const reason = event.path.reason === "" ? "" : `: ${event.path.reason}`;
    return `${head} ${phaseName(event.path.phase)} ${pathLabel(event.path)}${reason}`;
  }
  if (event.totals !== undefined) return `${head} ${stateName(event.state)} ${totalsText(event.totals)}`;
  if (event.finished !== undefined) return `${head} finished: ${stateName(event.finished)}`;
  return `${head} ${stateName(event.state)}`;
}

export function totalsText(totals: JobTotals): string {
  const done = totals.succeeded + totals.failed + totals.cancelled;
  return (
    `${done}/${totals.total} done: ${totals.succeeded} succeeded, ${totals.failed} failed, ` +
    `${totals.moving} moving, ${totals.pending} pending` +
    (totals.cancelled > 0 ? `, ${totals.cancelled} cancelled` : "")
  );
}

const BAR_WIDTH = 30;

/**
 * Live progress on a terminal: a bar with the totals, the paths in flight with their phase, and
 * the failures; redrawn in place (at most every 100 ms).
 */
class ProgressView {
  private readonly active = new Map<string, PathEvent>();
  private readonly failures: string[] = [];
  private totals: JobTotals | undefined;
  private state: JobState = JobState.JOB_STATE_UNSPECIFIED;
  private jobId = "";
  private drawnLines = 0;
  private lastDraw = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly out: NodeJS.WriteStream) {}

  update(event: WatchReassignmentResponse): void {
    this.jobId = event.jobId;
    this.state = event.finished ?? event.state;
    if (event.totals !== undefined) this.totals = event.totals;
    const path = event.path;
    if (path !== undefined) {
      if (path.phase === PathPhase.PATH_PHASE_FAILED) {
        this.active.delete(path.ip);
        this.failures.push(`failed ${pathLabel(path)}: ${path.reason}`);
      } else if (
        path.phase === PathPhase.PATH_PHASE_SERVING ||
        path.phase === PathPhase.PATH_PHASE_CANCELLED
      ) {
        this.active.delete(path.ip);
      } else if (path.phase !== PathPhase.PATH_PHASE_QUEUED) {
        this.active.set(path.ip, path);
      }
    }
    this.schedule();
  }

  finish(): void {
    clearTimeout(this.timer);
    this.active.clear();
    this.draw();
  }

  private schedule(): void {
    const wait = 100 - (Date.now() - this.lastDraw);
    if (wait <= 0) {
      this.draw();
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.draw();
    }, wait);
  }

  private draw(): void {
    this.lastDraw = Date.now();
    const width = this.out.columns > 20 ? this.out.columns : 100;
    const lines = [`job ${this.jobId}  ${stateName(this.state)}`];
    const totals = this.totals;
    if (totals !== undefined) {
      const done = totals.succeeded + totals.failed + totals.cancelled;
      const filled = totals.total === 0 ? BAR_WIDTH : Math.round((done / totals.total) * BAR_WIDTH);
      lines.push(`[${"#".repeat(filled)}${"-".repeat(BAR_WIDTH - filled)}] ${totalsText(totals)}`);
    }
    for (const path of [...this.active.values()].slice(0, 10)) {
      lines.push(`  ${phaseName(path.phase).padEnd(9)} ${pathLabel(path)}`);
    }
    if (this.active.size > 10) lines.push(`  … and ${this.active.size - 10} more in flight`);
    for (const failure of this.failures.slice(-5)) lines.push(`  ${failure}`);
    const text = lines.map((line) => line.slice(0, width - 1)).join("\n");
    const up = this.drawnLines > 0 ? `\x1b[${this.drawnLines}F` : "";
    this.out.write(`${up}\x1b[0J${text}\n`);
    this.drawnLines = lines.length;
  }
}

/** How long `job watch` keeps reconnecting to a sanpathd that went away. */
const RECONNECT_FOR_MS = 60_000;

/**
 * Follows a job's events until its finished event: live bars on a terminal, one line per event
 * otherwise, one JSON object per line with --output json. Reconnects after a lost stream and
 * resumes after the last sequence seen, so nothing is missed or shown twice. Returns the exit code
 * of the job's outcome.
 */
export async function followJob(session: CliSession, jobId: string, afterSequence = 0): Promise<number> {
  const out = process.stdout;
  const json = session.options.output === "json";
  const view = !json && out.isTTY ? new ProgressView(out) : undefined;
  let id = jobId;
  let last = afterSequence;
  let lostSince: number | undefined;
  for (;;) {
    try {
      const call = session.assignment.watchReassignment({ id, afterSequence: last, stopWhenDone: true });
      for await (const event of session.stream<WatchReassignmentResponse>(call)) {
        lostSince = undefined;
        id = event.jobId;
        last = event.sequence;
        if (json) out.write(`${JSON.stringify(WatchReassignmentResponse.toJSON(event))}\n`);
        else if (view !== undefined) view.update(event);
        else out.write(`${eventLine(event)}\n`);
        if (event.finished !== undefined) {
          view?.finish();
          return exitCodeOf(event.finished);
        }
      }
      // The server ended the stream without a finished event (it is shutting down): resume.
      throw Object.assign(new Error("the stream ended early"), { code: Status.UNAVAILABLE });
    } catch (error) {
      const code = (error as Partial<ServiceError>).code;
      if (code !== Status.UNAVAILABLE) throw error;
      lostSince ??= Date.now();
      if (Date.now() - lostSince > RECONNECT_FOR_MS) throw error;
      if (!json) process.stderr.write(`stream lost; reconnecting after event ${last}\n`);
      await sleep(1000);
    }
  }
}
