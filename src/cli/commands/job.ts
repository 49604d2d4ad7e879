import type { Command } from "commander";
import {
  CancelReassignmentResponse,
  GetReassignmentResponse,
  ListReassignmentsResponse,
} from "../../gen/sanpath/v1/assignment.js";
import { action, type ActionInput } from "../action.js";
import { UsageError } from "../errors.js";
import { followJob } from "./job-progress.js";
import { renderJob, renderJobList } from "./job-render.js";

function idArgument(input: ActionInput): string {
  const [id] = input.args;
  return typeof id === "string" ? id : "";
}

/** `sanpath job …`: reassignment jobs (rebalance, move, drain). */
export function registerJobCommands(program: Command): void {
  const job = program
    .command("job")
    .description("reassignment jobs: watch, show, list, cancel (ID defaults to the running job)");

  job
    .command("watch")
    .description("follow a job's progress until it ends; exit 0 when every move succeeded, 1 otherwise")
    .argument("[id]", "job id (default: the running job, else the last one)")
    .option("--after <sequence>", "start after this event sequence number (resume)", "0")
    .addHelpText(
      "after",
      `
On a terminal: a progress bar, the paths in flight and the failures, redrawn in place.
Otherwise one line per event; with --output json one JSON object per event. A lost stream
is resumed after the last event seen, so nothing is missed or shown twice.

Examples:
  $ sanpath job watch
  $ sanpath job watch 20250101-120000-ab12 --output json | jq .path`,
    )
    .action(
      action(async (session, input) => {
        const after = input.options.after;
        if (typeof after !== "string" || !/^\d+$/.test(after)) {
          throw new UsageError(`--after must be a sequence number, got ${JSON.stringify(after)}`);
        }
        return await followJob(session, idArgument(input), Number(after));
      }),
    );

  job
    .command("show")
    .description("a job's state, totals and moves")
    .argument("[id]", "job id (default: the running job, else the last one)")
    .action(
      action(async (session, input) => {
        const answer = await session.unary<GetReassignmentResponse>((metadata, options, done) =>
          session.assignment.getReassignment({ id: idArgument(input) }, metadata, options, done),
        );
        const found = answer.job;
        if (found === undefined) throw new Error("the server sent no job");
        session.print(GetReassignmentResponse.toJSON(answer), () => renderJob(found));
        return undefined;
      }),
    );

  job
    .command("list")
    .description("finished jobs (newest first), then the running one")
    .action(
      action(async (session) => {
        const answer = await session.unary<ListReassignmentsResponse>((metadata, options, done) =>
          session.assignment.listReassignments({}, metadata, options, done),
        );
        session.print(ListReassignmentsResponse.toJSON(answer), () => renderJobList(answer.jobs));
        return undefined;
      }),
    );

  job
    .command("cancel")
    .description("cancel a job: pending moves are dropped, moves under way finish")
    .argument("[id]", "job id (default: the running job)")
    .action(
      action(async (session, input) => {
        const answer = await session.unary<CancelReassignmentResponse>((metadata, options, done) =>
          session.assignment.cancelReassignment({ id: idArgument(input) }, metadata, options, done),
        );
        const found = answer.job;
        if (found === undefined) throw new Error("the server sent no job");
        session.print(CancelReassignmentResponse.toJSON(answer), () => renderJob(found));
        return undefined;
      }),
    );
}
