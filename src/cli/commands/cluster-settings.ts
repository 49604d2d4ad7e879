import type { Command } from "commander";
import {
  ClusterSettings,
  GetClusterSettingsResponse,
  InitClusterResponse,
  type IscsiSubnet,
} from "../../gen/sanpath/v1/cluster.js";
import { action } from "../action.js";
import { UsageError } from "../errors.js";
import { renderFields } from "../table.js";

function text(options: Record<string, unknown>, name: string): string | undefined {
  const value = options[name];
  return typeof value === "string" ? value : undefined;
}

/** One subnet from --subnetN, --subnetN-range FROM-TO, --subnetN-interface, --subnetN-vlan. */
function subnetFrom(options: Record<string, unknown>, number: 1 | 2): IscsiSubnet | undefined {
  const network = text(options, `subnet${number}`);
  const range = text(options, `subnet${number}Range`);
  const interfaceName = text(options, `subnet${number}Interface`);
  const vlan = text(options, `subnet${number}Vlan`);
  if (network === undefined && range === undefined && interfaceName === undefined && vlan === undefined) {
    return undefined;
  }
  if (network === undefined || range === undefined || interfaceName === undefined) {
    throw new UsageError(
      `iSCSI subnet ${number} needs --subnet${number} CIDR, --subnet${number}-range FROM-TO and --subnet${number}-interface NAME`,
    );
  }
  const ends = range.split("-");
  if (ends.length !== 2 || ends.some((end) => end.trim() === "")) {
    throw new UsageError(
      `--subnet${number}-range must be FROM-TO, e.g. 198.51.100.10-198.51.100.250 (got ${JSON.stringify(range)})`,
    );
  }
  if (vlan !== undefined && !/^\d+$/.test(vlan)) {
    throw new UsageError(`--subnet${number}-vlan must be a VLAN id 1..4094 (got ${JSON.stringify(vlan)})`);
  }
  return {
    network,
    autoIpFrom: (ends[0] ?? "").trim(),
    autoIpTo: (ends[1] ?? "").trim(),
    interface: interfaceName,
    vlanId: vlan === undefined ? 0 : Number(vlan),
  };
}

function describeSubnet(subnet: IscsiSubnet | undefined): string {
  if (subnet === undefined || subnet.network === "") return "not set";
  const vlan = subnet.vlanId === 0 ? "" : `, VLAN ${subnet.vlanId}`;
  return `${subnet.network} on ${subnet.interface}${vlan}, automatic ${subnet.autoIpFrom}-${subnet.autoIpTo}`;
}

export function renderSettings(settings: ClusterSettings): string {
  return renderFields([
    ["IQN base", settings.iqnBase],
    ["Default pool", settings.defaultPool],
    ["iSCSI subnet 1", describeSubnet(settings.subnet1)],
    ["iSCSI subnet 2", describeSubnet(settings.subnet2)],
  ]);
}

/**
 * `sanpath cluster init` and `sanpath cluster show`: the cluster settings. Added to the `cluster`
 * group when it exists already (src/cli/commands/cluster.ts), else to a new one.
 */
export function registerClusterSettingsCommands(program: Command): void {
  const cluster =
    program.commands.find((command) => command.name() === "cluster") ??
    program.command("cluster").description("the cluster: coordinator, nodes, settings");

  const init = cluster
    .command("init")
    .description("store the cluster settings: IQN base, default pool, iSCSI subnets and automatic ranges")
    .requiredOption("--iqn-base <iqn>", "IQN base; a disk's IQN is <base>:<id>, e.g. iqn.2016-05.com.example")
    .option("--pool <pool>", "default Ceph pool of new disks", "rbd");
  for (const number of [1, 2] as const) {
    const optional = number === 2 ? " (subnet 2 is optional)" : "";
    init
      .option(`--subnet${number} <cidr>`, `iSCSI subnet ${number}, e.g. 198.51.100.0/24${optional}`)
      .option(`--subnet${number}-range <from-to>`, `automatic addresses of subnet ${number}: FROM-TO`)
      .option(
        `--subnet${number}-interface <name>`,
        `interface of subnet ${number} on every node, e.g. eth${number}`,
      )
      .option(`--subnet${number}-vlan <id>`, `VLAN id of subnet ${number} (default: none)`);
  }
  init
    .addHelpText(
      "after",
      `
Run it again to change settings. Changing or removing a subnet that disks use (its network,
interface or VLAN) is refused with SUBNET_IN_USE; its automatic range, the IQN base and the
default pool may change at any time (existing disks keep their IQN and pool).

Examples:
  $ sanpath cluster init --iqn-base iqn.2016-05.com.example --pool rbd \\
      --subnet1 198.51.100.0/24 --subnet1-range 198.51.100.10-198.51.100.250 --subnet1-interface eth1
  $ sanpath cluster init --iqn-base iqn.2016-05.com.example \\
      --subnet1 198.51.100.0/24 --subnet1-range 198.51.100.10-198.51.100.250 --subnet1-interface eth1 \\
      --subnet2 203.0.113.0/24 --subnet2-range 203.0.113.10-203.0.113.250 --subnet2-interface eth2 --subnet2-vlan 20`,
    )
    .action(
      action(async (session, { options }) => {
        const subnet1 = subnetFrom(options, 1);
        if (subnet1 === undefined) {
          throw new UsageError("iSCSI subnet 1 is required: --subnet1, --subnet1-range, --subnet1-interface");
        }
        const settings: ClusterSettings = {
          iqnBase: text(options, "iqnBase") ?? "",
          defaultPool: text(options, "pool") ?? "",
          subnet1,
          subnet2: subnetFrom(options, 2),
        };
        const response = await session.unary<InitClusterResponse>((metadata, callOptions, done) =>
          session.cluster.initCluster({ settings }, metadata, callOptions, done),
        );
        const stored = response.settings;
        if (stored === undefined) throw new Error("the server sent no settings");
        session.print(
          InitClusterResponse.toJSON(response),
          () => `cluster settings stored\n\n${renderSettings(stored)}`,
        );
        return undefined;
      }),
    );

  cluster
    .command("show")
    .description("show the cluster settings")
    .addHelpText("after", "\nExamples:\n  $ sanpath cluster show\n  $ sanpath cluster show --output json")
    .action(
      action(async (session) => {
        const response = await session.unary<GetClusterSettingsResponse>((metadata, callOptions, done) =>
          session.cluster.getClusterSettings({}, metadata, callOptions, done),
        );
        const settings = response.settings;
        if (settings === undefined) throw new Error("the server sent no settings");
        session.print(GetClusterSettingsResponse.toJSON(response), () => renderSettings(settings));
        return undefined;
      }),
    );
}
