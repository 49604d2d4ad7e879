import type { Command } from "commander";
import { ListNodesResponse, PlanReassignmentResponse } from "../../gen/sanpath/v1/assignment.js";
import { CordonNodeResponse, DrainNodeResponse, UncordonNodeResponse } from "../../gen/sanpath/v1/cluster.js";
import type { NodeSummary } from "../../gen/sanpath/v1/common.js";
import { action, type ActionInput } from "../action.js";
import { EXIT_OK, UsageError } from "../errors.js";
import { renderTable } from "../table.js";
import { followJob } from "./job-progress.js";
import { renderPlan } from "./paths.js";

function yesNo(value: boolean): string {
  return value ? "yes" : "no";
}

export function renderNodes(nodes: readonly NodeSummary[]): string {
  const table = renderTable(
    [
      { header: "node", value: (node: NodeSummary) => node.name },
      { header: "address", value: (node: NodeSummary) => node.address },
      { header: "online", value: (node: NodeSummary) => yesNo(node.online) },
      { header: "cordoned", value: (node: NodeSummary) => yesNo(node.cordoned) },
      { header: "degraded", value: (node: NodeSummary) => yesNo(node.degraded) },
      { header: "paths", value: (node: NodeSummary) => String(node.pathCount), align: "right" },
      { header: "subnets", value: (node: NodeSummary) => node.subnets.join(",") },
      { header: "coordinator", value: (node: NodeSummary) => (node.leader ? "yes" : "") },
      { header: "version", value: (node: NodeSummary) => node.version },
    ],
    nodes,
    "(no nodes)",
  );
  const reasons = nodes
    .filter((node) => node.degraded)
    .map((node) => `${node.name} is degraded (takes no paths until it recovers): ${node.degradedReason}`);
  return [table, ...reasons].join("\n");
}

function nodeArgument(input: ActionInput): string {
  const [node] = input.args;
  if (typeof node !== "string" || node === "") throw new UsageError("name the node");
  return node;
}

/** `sanpath nodes` and `sanpath node cordon|uncordon|drain NODE`. */
export function registerNodeCommands(program: Command): void {
  program
    .command("nodes")
    .description(
      "the storage nodes: online, cordoned, degraded (data path failed), paths served, coordinator",
    )
    .action(
      action(async (session) => {
        const answer = await session.unary<ListNodesResponse>((metadata, options, done) =>
          session.assignment.listNodes({}, metadata, options, done),
        );
        session.print(ListNodesResponse.toJSON(answer), () => renderNodes(answer.nodes));
        return undefined;
      }),
    );

  const node = program.command("node").description("node maintenance: cordon, uncordon, drain");

  node
    .command("cordon")
    .description("give the node no new paths (it keeps the ones it serves)")
    .argument("<node>", "node name")
    .action(
      action(async (session, input) => {
        const answer = await session.unary<CordonNodeResponse>((metadata, options, done) =>
          session.cluster.cordonNode({ node: nodeArgument(input) }, metadata, options, done),
        );
        session.print(CordonNodeResponse.toJSON(answer), () => renderNodes(answer.node ? [answer.node] : []));
        return undefined;
      }),
    );

  node
    .command("uncordon")
    .description("let the node take paths again")
    .argument("<node>", "node name")
    .action(
      action(async (session, input) => {
        const answer = await session.unary<UncordonNodeResponse>((metadata, options, done) =>
          session.cluster.uncordonNode({ node: nodeArgument(input) }, metadata, options, done),
        );
        session.print(UncordonNodeResponse.toJSON(answer), () =>
          renderNodes(answer.node ? [answer.node] : []),
        );
        return undefined;
      }),
    );

  node
    .command("drain")
    .description("cordon the node and move every path off it, then follow the job")
    .argument("<node>", "node name")
    .option("--detach", "start the job and return at once (follow it with sanpath job watch)")
    .option("--dry-run", "print the moves a drain would make; cordon nothing, move nothing")
    .option("--parallelism <n>", "moves in flight at once, 1..64 (default: the cluster's setting)")
    .addHelpText(
      "after",
      `
Examples:
  $ sanpath node drain node-2 --dry-run
  $ sanpath node drain node-2
  $ sanpath node drain node-2 --detach && sanpath job watch`,
    )
    .action(
      action(async (session, input) => {
        const value = input.options.parallelism;
        const parallelism = typeof value === "string" ? Number(value) : 0;
        if (!Number.isInteger(parallelism) || parallelism < 0 || parallelism > 64) {
          throw new UsageError(`--parallelism must be 1..64, got ${JSON.stringify(value)}`);
        }
        if (input.options.dryRun === true) {
          const plan = await session.unary<PlanReassignmentResponse>((metadata, options, done) =>
            session.assignment.planReassignment(
              { spec: { drain: { node: nodeArgument(input) } } },
              metadata,
              options,
              done,
            ),
          );
          session.print(PlanReassignmentResponse.toJSON(plan), () => renderPlan(plan));
          return EXIT_OK;
        }
        const answer = await session.unary<DrainNodeResponse>((metadata, options, done) =>
          session.cluster.drainNode({ node: nodeArgument(input), parallelism }, metadata, options, done),
        );
        const job = answer.job;
        if (job === undefined) throw new Error("the server sent no job");
        if (session.options.output === "json") {
          process.stdout.write(`${JSON.stringify(DrainNodeResponse.toJSON(answer))}\n`);
        } else {
          process.stdout.write(`node cordoned; job ${job.id} moves ${job.moves.length} path(s) off it\n`);
        }
        if (input.options.detach === true) return EXIT_OK;
        return await followJob(session, job.id);
      }),
    );
}
