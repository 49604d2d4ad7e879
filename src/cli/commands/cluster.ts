import type { Command } from "commander";
import { GetClusterInfoResponse, type IscsiSubnet } from "../../gen/sanpath/v1/cluster.js";
import { action } from "../action.js";
import { renderFields } from "../table.js";
import { renderNodes } from "./nodes.js";

/** `sanpath cluster …`: the cluster as a whole. */
export function registerClusterCommands(program: Command): void {
  const cluster = program.command("cluster").description("the cluster: coordinator, nodes, settings");

  cluster
    .command("info")
    .description(
      "show the coordinator (leader and epoch), the nodes, the disk and path counts and the settings",
    )
    .addHelpText(
      "after",
      `
Examples:
  $ sanpath cluster info
  $ sanpath --server 192.0.2.11:7410 cluster info --output json`,
    )
    .action(
      action(async (session) => {
        const info = await session.unary<GetClusterInfoResponse>((metadata, options, done) =>
          session.cluster.getClusterInfo({}, metadata, options, done),
        );
        session.print(GetClusterInfoResponse.toJSON(info), () => renderClusterInfo(info));
        return undefined;
      }),
    );
}

function renderClusterInfo(info: GetClusterInfoResponse): string {
  const leader =
    info.leader === undefined || info.leader.node === ""
      ? "none elected"
      : `${info.leader.node} (${info.leader.address}), epoch ${info.leader.epoch}`;
  const fields: [string, string][] = [
    ["Consul root", info.consulRoot],
    ["Coordinator", leader],
    ["Disks", String(info.diskCount)],
    ["Paths", String(info.pathCount)],
  ];
  if (info.settings === undefined) {
    fields.push(["Settings", "not initialized (sanpath cluster init)"]);
  } else {
    fields.push(["IQN base", info.settings.iqnBase], ["Default pool", info.settings.defaultPool]);
    fields.push(["iSCSI subnet 1", describeSubnet(info.settings.subnet1)]);
    fields.push(["iSCSI subnet 2", describeSubnet(info.settings.subnet2)]);
  }
  const nodes = renderNodes(info.nodes);
  return `${renderFields(fields)}\n\n${nodes}`;
}

function describeSubnet(subnet: IscsiSubnet | undefined): string {
  if (subnet === undefined || subnet.network === "") return "not set";
  const vlan = subnet.vlanId === 0 ? "" : `, VLAN ${subnet.vlanId}`;
  return `${subnet.network} on ${subnet.interface}${vlan}, automatic ${subnet.autoIpFrom}–${subnet.autoIpTo}`;
}
