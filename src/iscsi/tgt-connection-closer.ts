/**
 * Closes iSCSI connections to a tgt target when one of its portals is disabled. tgt does not tell
 * through which portal a connection came, so there are two ways:
 * - all the target's connections (`tgtadm --mode conn --op delete`, per connection tgtd lists
 *   now), when the portal was the target's last one or another target shares it;
 * - only those through one portal, by destroying the TCP sockets whose local end is the portal
 *   (`ss -K`), so that the target's sessions at its other portals go on. Where the kernel cannot
 *   destroy sockets (it needs CONFIG_INET_DIAG_DESTROY), the first way, from then on.
 */
import type { CommandResult, CommandRunner } from "../exec/command-runner.js";
import type { Logger } from "../log/logger.js";
import type { DriverCallOptions } from "./target-driver.js";
import type { Tgtadm } from "./tgt-admin.js";
import { parseTgtConnections, type TgtTarget } from "./tgt-show.js";

export interface TgtConnectionCloserOptions {
  tgtadm: Tgtadm;
  /** Runs `ss` (in the node's namespace, like tgtadm). */
  runner: CommandRunner;
  /** Per `ss` call. */
  timeoutMs: number;
  logger?: Logger | undefined;
}

export class TgtConnectionCloser {
  /** Whether `ss -K` closes sockets here (the kernel needs CONFIG_INET_DIAG_DESTROY). */
  private socketKill: "unknown" | "works" | "unsupported" = "unknown";

  constructor(private readonly options: TgtConnectionCloserOptions) {}

  /** Whether closing one portal's connections is known not to work here (all the target's go). */
  get portalOnlyUnsupported(): boolean {
    return this.socketKill === "unsupported";
  }

  /** Closes every open connection of the target, as tgtd lists them now (all at once). */
  async closeAll(target: TgtTarget, options: DriverCallOptions): Promise<void> {
    const { tgtadm, logger } = this.options;
    const tid = String(target.tid);
    const listed = await tgtadm(["--op", "show", "--mode", "conn", "--tid", tid], options);
    await Promise.all(
      parseTgtConnections(listed.stdout).map(async (connection) => {
        const args = ["--op", "delete", "--mode", "conn", "--tid", tid];
        try {
          await tgtadm(
            [...args, "--sid", String(connection.sessionId), "--cid", String(connection.connectionId)],
            options,
          );
        } catch (error) {
          // A connection that closed on its own meanwhile is fine.
          logger?.warn({ iqn: target.iqn, err: error }, "could not close an iSCSI connection");
        }
      }),
    );
  }

  /**
   * Closes the connections that came in through ip:port only (the target keeps its sessions at its
   * other portals): `ss -K` destroys the TCP sockets whose local end is ip:port, and tgtd ends
   * their connections. Until `ss -K` has been seen to work, the sockets are listed again after it;
   * if any is left, the kernel cannot destroy sockets and the target's connections are closed with
   * tgtadm from then on.
   */
  async closeAtPortal(
    target: TgtTarget,
    ip: string,
    port: number,
    options: DriverCallOptions,
  ): Promise<void> {
    const filter = ["-tnH", "state", "connected", "src", `${ip}:${port}`];
    const killed = await this.ss(["-K", ...filter], options);
    if (killed.stdout.trim() !== "") this.socketKill = "works";
    if (this.socketKill === "works") return;
    const left = await this.ss(filter, options);
    if (left.stdout.trim() === "") return;
    this.socketKill = "unsupported";
    this.options.logger?.warn(
      { portal: `${ip}:${port}` },
      "ss -K does not close sockets here: closing the target's connections with tgtadm from now on",
    );
    await this.closeAll(target, options);
  }

  private ss(args: readonly string[], options: DriverCallOptions): Promise<CommandResult> {
    return this.options.runner.run("ss", args, {
      timeoutMs: this.options.timeoutMs,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
  }
}
