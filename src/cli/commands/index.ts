import type { Command } from "commander";
import { registerClusterCommands } from "./cluster.js";
import { registerClusterSettingsCommands } from "./cluster-settings.js";
import { registerDiskCommands } from "./disk.js";
import { registerEventCommands } from "./events.js";
import { registerHealthCommands } from "./health.js";
import { registerJobCommands } from "./job.js";
import { registerNodeCommands } from "./nodes.js";
import { registerPathsCommands } from "./paths.js";
import { registerCertCommands } from "./cert.js";
import { registerTokenCommands } from "./token.js";

/**
 * Adds one group of commands (`sanpath disk …`, `sanpath paths …`) to the program. A new group is
 * one file in this folder exporting such a function, listed below; its actions use `action()`.
 */
export type CommandGroup = (program: Command) => void;

export const COMMAND_GROUPS: readonly CommandGroup[] = [
  registerHealthCommands,
  registerClusterCommands,
  registerClusterSettingsCommands,
  registerDiskCommands,
  registerPathsCommands,
  registerJobCommands,
  registerNodeCommands,
  registerEventCommands,
  registerTokenCommands,
  registerCertCommands,
];
