import { createInterface } from "node:readline/promises";
import type { Command } from "commander";
import {
  ListPathsResponse,
  Planner,
  PlanReassignmentResponse,
  StartReassignmentResponse,
  type Move,
  type NodeCount,
  type PathInfo,
  type ReassignmentSpec,
} from "../../gen/sanpath/v1/assignment.js";
import { MoveStatus } from "../../gen/sanpath/v1/assignment.js";
import { action } from "../action.js";
import type { CliSession } from "../client.js";
import { EXIT_FAILED, EXIT_OK, UsageError } from "../errors.js";
import { renderTable } from "../table.js";
import { followJob, moveStatusName } from "./job-progress.js";

function text(options: Record<string, unknown>, name: string): string {
  const value = options[name];
  return typeof value === "string" ? value : "";
}

function parallelismOf(options: Record<string, unknown>): number {
  const value = text(options, "parallelism");
  if (value === "") return 0;
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > 64) {
    throw new UsageError(`--parallelism must be 1..64, got ${JSON.stringify(value)}`);
  }
  return Number(value);
}

export function renderPaths(listing: ListPathsResponse): string {
  const table = renderTable(
    [
      { header: "disk", value: (path: PathInfo) => path.diskId },
      { header: "name", value: (path: PathInfo) => path.diskName },
      { header: "path", value: (path: PathInfo) => String(path.index), align: "right" },
      { header: "ip", value: (path: PathInfo) => path.ip },
      { header: "subnet", value: (path: PathInfo) => String(path.subnet), align: "right" },
      { header: "node", value: (path: PathInfo) => path.node || "(not served)" },
      {
        header: "job",
        value: (path: PathInfo) =>
          path.jobStatus === MoveStatus.MOVE_STATUS_UNSPECIFIED
            ? ""
            : `${moveStatusName(path.jobStatus)} → ${path.jobTargetNode}`,
      },
    ],
    listing.paths,
    "(no paths of running disks match)",
  );
  const online = listing.onlineNodes.length === 0 ? "none" : listing.onlineNodes.join(", ");
  const busy = listing.busy ? "\nA reassignment job is running (sanpath job watch)." : "";
  return `${table}\n\nOnline nodes: ${online}${busy}`;
}

export function renderPlan(plan: PlanReassignmentResponse): string {
  if (plan.moves.length === 0) return "Nothing to move: the paths are where the plan wants them.";
  const moves = renderTable(
    [
      { header: "disk", value: (move: Move) => move.diskId },
      { header: "name", value: (move: Move) => move.diskName },
      { header: "path", value: (move: Move) => String(move.index), align: "right" },
      { header: "ip", value: (move: Move) => move.ip },
      { header: "from", value: (move: Move) => move.sourceNode || "(free)" },
      { header: "to", value: (move: Move) => move.targetNode },
    ],
    plan.moves,
  );
  const after = new Map(plan.after.map((count) => [count.node, count.paths]));
  const counts = renderTable(
    [
      { header: "node", value: (count: NodeCount) => count.node },
      { header: "paths now", value: (count: NodeCount) => String(count.paths), align: "right" },
      { header: "after", value: (count: NodeCount) => String(after.get(count.node) ?? 0), align: "right" },
    ],
    plan.before,
  );
  return `${plan.moves.length} move${plan.moves.length === 1 ? "" : "s"}:\n${moves}\n\n${counts}`;
}

async function confirmed(question: string): Promise<boolean> {
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  try {
    const answer = await prompt.question(`${question} [y/N] `);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    prompt.close();
  }
}

/**
 * Plans `spec`, prints the plan, and unless --dry-run starts it (after a prompt on a terminal, or
 * with --yes) and follows it to the end (unless --detach). The start carries the plan's state
 * index: a cluster that changed meanwhile refuses it (ABORTED) instead of running another plan.
 */
async function planAndRun(
  session: CliSession,
  spec: ReassignmentSpec,
  options: Record<string, unknown>,
): Promise<number> {
  const parallelism = parallelismOf(options);
  const plan = await session.unary<PlanReassignmentResponse>((metadata, callOptions, done) =>
    session.assignment.planReassignment({ spec }, metadata, callOptions, done),
  );
  const json = session.options.output === "json";
  if (options.dryRun === true || plan.moves.length === 0) {
    session.print(PlanReassignmentResponse.toJSON(plan), () => renderPlan(plan));
    return EXIT_OK;
  }
  if (!json) process.stdout.write(`${renderPlan(plan)}\n\n`);
  if (options.yes !== true) {
    if (!process.stdin.isTTY)
      throw new UsageError("add --yes to start the job without a prompt (or --dry-run)");
    if (!(await confirmed(`Start moving ${plan.moves.length} path(s)?`))) {
      process.stderr.write("not started\n");
      return EXIT_FAILED;
    }
  }
  const started = await session.unary<StartReassignmentResponse>((metadata, callOptions, done) =>
    session.assignment.startReassignment(
      { spec, stateIndex: plan.stateIndex, parallelism },
      metadata,
      callOptions,
      done,
    ),
  );
  const job = started.job;
  if (job === undefined) throw new Error("the server sent no job");
  if (json) process.stdout.write(`${JSON.stringify(StartReassignmentResponse.toJSON(started))}\n`);
  else process.stdout.write(`job ${job.id} started (sanpath job watch ${job.id})\n`);
  if (options.detach === true) return EXIT_OK;
  return await followJob(session, job.id);
}

function addRunOptions(command: Command): Command {
  return command
    .option("--dry-run", "print the plan only")
    .option("-y, --yes", "start without asking")
    .option("--detach", "start the job and return at once (follow it with sanpath job watch)")
    .option("--parallelism <n>", "moves in flight at once, 1..64 (default: the cluster's setting)");
}

/** `sanpath paths …`: which node serves which path; rebalance and move. */
export function registerPathsCommands(program: Command): void {
  const paths = program.command("paths").description("iSCSI paths: who serves them; rebalance and move them");

  paths
    .command("list")
    .description("every path of running disks with the node serving it and the running job's view")
    .option("--disk <name>", "disk name contains this (any case)")
    .option("--ip <ip>", "this path IP only")
    .option("--node <node>", "paths served by this node")
    .addHelpText(
      "after",
      `
Examples:
  $ sanpath paths list
  $ sanpath paths list --disk web --node node-2
  $ sanpath paths list --ip 198.51.100.20 --output json`,
    )
    .action(
      action(async (session, input) => {
        const request = {
          diskName: text(input.options, "disk"),
          ip: text(input.options, "ip"),
          node: text(input.options, "node"),
        };
        const listing = await session.unary<ListPathsResponse>((metadata, options, done) =>
          session.assignment.listPaths(request, metadata, options, done),
        );
        session.print(ListPathsResponse.toJSON(listing), () => renderPaths(listing));
        return undefined;
      }),
    );

  addRunOptions(
    paths
      .command("rebalance")
      .description("even out paths over the nodes (PetaSAN's average planner), then follow the job"),
  )
    .addHelpText(
      "after",
      `
The target per node is ceil(paths / eligible nodes); nodes above it give paths of the disk they
hold most paths of to the node below it holding fewest paths of that disk.

Examples:
  $ sanpath paths rebalance --dry-run
  $ sanpath paths rebalance --yes --parallelism 8`,
    )
    .action(
      action(async (session, input) =>
        planAndRun(session, { auto: { planner: Planner.PLANNER_AVERAGE } }, input.options),
      ),
    );

  addRunOptions(
    paths
      .command("move")
      .description('move paths (by IP) to a node, or let the planner place them ("auto")')
      .argument("<ip...>", "path IPs")
      .requiredOption("--to <node>", 'target node, or "auto"'),
  )
    .addHelpText(
      "after",
      `
Examples:
  $ sanpath paths move 198.51.100.20 198.51.100.21 --to node-3 --dry-run
  $ sanpath paths move 198.51.100.20 --to auto --yes`,
    )
    .action(
      action(async (session, input) => {
        const [ips] = input.args;
        const list = Array.isArray(ips) ? ips : typeof ips === "string" ? [ips] : [];
        if (list.length === 0) throw new UsageError("name at least one path IP");
        return await planAndRun(
          session,
          { manual: { ips: list, targetNode: text(input.options, "to") } },
          input.options,
        );
      }),
    );
}
