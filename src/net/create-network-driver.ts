/**
 * The NetworkDriver sanpathd uses: NetlinkNetworkDriver (kernel calls in process, the sanpath_net
 * addon), or IpDriver (`ip` and `arping` processes) when the addon cannot be loaded, which the log
 * says once per process.
 */
import { loadNetBinding, type NativeNetBinding } from "../../native/net.js";
import type { CommandRunner } from "../exec/command-runner.js";
import type { Logger } from "../log/logger.js";
import { IpDriver } from "./ip-driver.js";
import { NetlinkNetworkDriver } from "./netlink-network-driver.js";
import type { NetworkDriver } from "./network-driver.js";

export interface CreateNetworkDriverOptions {
  /** Runs `ip link` for VLAN devices (netlink), or every command (the IpDriver fallback). */
  runner: CommandRunner;
  logger?: Logger;
  /** How the addon is loaded; tests pass one that fails. */
  loadAddon?: () => NativeNetBinding;
}

let fallbackLogged = false;

export function createNetworkDriver(options: CreateNetworkDriverOptions): NetworkDriver {
  const { runner, logger } = options;
  let addon: NativeNetBinding;
  try {
    addon = (options.loadAddon ?? loadNetBinding)();
  } catch (error) {
    if (!fallbackLogged) {
      fallbackLogged = true;
      logger?.warn(
        { err: error instanceof Error ? error.message : String(error) },
        "the net addon cannot be loaded: path IPs go on and off with ip and arping processes (IpDriver)",
      );
    }
    return new IpDriver({ runner, ...(logger === undefined ? {} : { logger }) });
  }
  return new NetlinkNetworkDriver({ addon, runner, ...(logger === undefined ? {} : { logger }) });
}
