import {
  jobKindToJSON,
  type JobKind,
  type PathMove,
  type Reassignment,
} from "../../gen/sanpath/v1/assignment.js";
import { renderFields, renderTable } from "../table.js";
import { moveStatusName, stateName, totalsText } from "./job-progress.js";

function kindName(kind: JobKind): string {
  return jobKindToJSON(kind)
    .replace(/^JOB_KIND_/, "")
    .toLowerCase();
}

function time(value: Date | undefined): string {
  return value === undefined ? "" : value.toISOString();
}

/** A job's fields and its moves. */
export function renderJob(job: Reassignment): string {
  const fields: [string, string][] = [
    ["Job", job.id],
    ["Kind", job.drainNode === "" ? kindName(job.kind) : `${kindName(job.kind)} of ${job.drainNode}`],
    ["State", stateName(job.state)],
    ["Progress", job.totals === undefined ? "" : totalsText(job.totals)],
    ["Started by", job.startedBy],
    ["Created", time(job.createTime)],
    ["Finished", job.finishTime === undefined ? "not yet" : time(job.finishTime)],
    ["Last event", String(job.lastSequence)],
  ];
  const moves = renderTable(
    [
      { header: "disk", value: (move: PathMove) => move.move?.diskId ?? "" },
      { header: "name", value: (move: PathMove) => move.move?.diskName ?? "" },
      { header: "path", value: (move: PathMove) => String(move.move?.index ?? ""), align: "right" },
      { header: "ip", value: (move: PathMove) => move.move?.ip ?? "" },
      { header: "from", value: (move: PathMove) => move.move?.sourceNode || "(free)" },
      { header: "to", value: (move: PathMove) => move.move?.targetNode ?? "" },
      { header: "status", value: (move: PathMove) => moveStatusName(move.status) },
      { header: "error", value: (move: PathMove) => move.error },
    ],
    job.moves,
    "(no moves)",
  );
  return `${renderFields(fields)}\n\n${moves}`;
}

/** One line per job. */
export function renderJobList(jobs: readonly Reassignment[]): string {
  return renderTable(
    [
      { header: "job", value: (job: Reassignment) => job.id },
      { header: "kind", value: (job: Reassignment) => kindName(job.kind) },
      { header: "state", value: (job: Reassignment) => stateName(job.state) },
      { header: "moves", value: (job: Reassignment) => String(job.totals?.total ?? 0), align: "right" },
      { header: "failed", value: (job: Reassignment) => String(job.totals?.failed ?? 0), align: "right" },
      { header: "created", value: (job: Reassignment) => time(job.createTime) },
      { header: "started by", value: (job: Reassignment) => job.startedBy },
    ],
    jobs,
    "(no jobs yet)",
  );
}
