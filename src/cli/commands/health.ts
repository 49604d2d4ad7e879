import { status as GrpcStatus, type ServiceError } from "@grpc/grpc-js";
import type { Command } from "commander";
import { SANPATH_SERVICE_NAMES } from "../../api/service-registry.js";
import { action } from "../action.js";
import type { CliSession } from "../client.js";
import { EXIT_FAILED, EXIT_OK } from "../errors.js";
import type { ServingStatusName } from "../health-client.js";
import { renderTable } from "../table.js";
import type { StatusResponse } from "../../gen/sanpath/v1/node.js";

interface ServiceHealth {
  service: string;
  status: ServingStatusName;
  /** Why NodeService is not serving, from the node's Status (absent when serving or unknown). */
  reason?: string;
}

const NODE_SERVICE = "sanpath.v1.NodeService";

/** `sanpath health [service]`: grpc.health.v1 Check of the server and its services. */
export function registerHealthCommands(program: Command): void {
  program
    .command("health")
    .description("show whether sanpathd is serving: the whole server and each sanpath.v1 service")
    .argument("[service]", 'one service, e.g. sanpath.v1.NodeService; "" is the whole server (default: all)')
    .addHelpText(
      "after",
      `
A service is SERVING when sanpathd can work for it (its Consul agent answers, …) and
NOT_SERVING otherwise, e.g. while Consul is down or sanpathd is stopping. NodeService also
needs the node's session and its data path: NOT_SERVING while the node is fenced, and while the
target daemon does not answer or a served path is not all there for longer than
dataPath.degradeAfterMs (3 s): the node then hands its paths off and stays degraded until its
data path has been healthy for dataPath.recoverAfterMs (10 s). The reason column says which.
Exit code: 0 when everything checked is SERVING, 1 when not (or the server is unreachable).

Examples:
  $ sanpath health
  $ sanpath --server 192.0.2.11:7410 health sanpath.v1.NodeService
  $ sanpath health --output json`,
    )
    .action(
      action(async (session, { args }) => {
        const [service] = args;
        const names = typeof service === "string" ? [service] : ["", ...SANPATH_SERVICE_NAMES];
        const results = await Promise.all(names.map((name) => checkOne(session, name)));
        session.print({ server: session.options.server, services: results }, () =>
          renderTable(
            [
              {
                header: "service",
                value: (row: ServiceHealth) => (row.service === "" ? "(server)" : row.service),
              },
              { header: "status", value: (row: ServiceHealth) => row.status },
              { header: "reason", value: (row: ServiceHealth) => row.reason ?? "" },
            ],
            results,
          ),
        );
        return results.every((result) => result.status === "SERVING") ? EXIT_OK : EXIT_FAILED;
      }),
    );
}

async function checkOne(session: CliSession, service: string): Promise<ServiceHealth> {
  let status: ServingStatusName;
  try {
    status = await session.health.check(service, session.deadline());
  } catch (error) {
    // The server answers NOT_FOUND for a service it does not know.
    if ((error as Partial<ServiceError>).code === GrpcStatus.NOT_FOUND)
      return { service, status: "SERVICE_UNKNOWN" };
    throw error;
  }
  const reason = service === NODE_SERVICE && status !== "SERVING" ? await nodeReason(session) : "";
  return reason === "" ? { service, status } : { service, status, reason };
}

/** Why the node's NodeService is not serving, as its Status tells (best effort). */
async function nodeReason(session: CliSession): Promise<string> {
  try {
    const status = await session.unary<StatusResponse>((metadata, options, done) =>
      session.node.status({ epoch: 0 }, metadata, options, done),
    );
    if (status.session?.fenced === true || status.session?.id === "")
      return "fenced: no confirmed Consul session";
    const dataPath = status.dataPath;
    if (dataPath?.degraded === true) return `degraded: ${dataPath.degradedReason}`;
    if (dataPath !== undefined && !dataPath.healthy) return `data path: ${dataPath.reason}`;
    return "";
  } catch (error) {
    return `Status not readable: ${(error as Partial<ServiceError>).details ?? String(error)}`;
  }
}
