/** Formatting of times, durations and paths for tables. */
import type { JobTotals, PathInfo } from "./api-model.js";
import { moveStatusLabel } from "./labels.js";

function pad(n: number, width = 2): string {
  return String(n).padStart(width, "0");
}

/** An ISO timestamp as "2026-12-07 02:50:08" (UTC, as the CLI prints it); "" stays "". */
export function formatTime(iso: string): string {
  if (iso === "") return "";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return (
    `${date.getUTCFullYear()}-${pad(date.getUTCMonth() + 1)}-${pad(date.getUTCDate())} ` +
    `${pad(date.getUTCHours())}:${pad(date.getUTCMinutes())}:${pad(date.getUTCSeconds())}`
  );
}

/** Milliseconds as "850 ms", "12.3 s", "4m 05s", "2h 03m"; 0 is "" (not measured). */
export function formatDuration(ms: number): string {
  if (ms <= 0) return "";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const totalSeconds = Math.floor(ms / 1000);
  const hours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = totalSeconds % 60;
  return hours > 0 ? `${hours}h ${pad(minutes)}m` : `${minutes}m ${pad(seconds)}s`;
}

/** "00001/2"; a disk without a path index is just its id. */
export function formatPathRef(diskId: string, index: number): string {
  if (diskId === "") return "";
  return index > 0 ? `${diskId}/${index}` : diskId;
}

/** "node1 → node2"; an empty side is "(free)"; both empty is "". */
export function formatFromTo(from: string, to: string): string {
  if (from === "" && to === "") return "";
  return `${from === "" ? "(free)" : from} → ${to === "" ? "(free)" : to}`;
}

/** The running job's view of a path: "moving → node2", "pending → auto", "" when not moved. */
export function formatJobStatus(path: Pick<PathInfo, "jobStatus" | "jobTargetNode">): string {
  const label = moveStatusLabel(path.jobStatus);
  if (label === "") return "";
  return path.jobTargetNode === "" ? label : `${label} → ${path.jobTargetNode}`;
}

/** A job's totals in a table cell: "3 / 10 done, 1 failed, 2 moving". */
export function formatJobTotals(t: JobTotals): string {
  const done = t.succeeded + t.failed + t.cancelled;
  const extra = [
    t.failed > 0 ? `${t.failed} failed` : "",
    t.cancelled > 0 ? `${t.cancelled} cancelled` : "",
    t.moving > 0 ? `${t.moving} moving` : "",
  ].filter((s) => s !== "");
  return [`${done} / ${t.total} done`, ...extra].join(", ");
}
