/**
 * Closes iSCSI connections to a tgt target when one of its portals is disabled. tgt does not tell
 * through which portal a connection came, so there are two ways:
 * - all the target's connections (`tgtadm --mode conn --op delete`, per connection tgtd lists
 *   now), when the portal was the target's last one or another target shares it;
 * - only those through one portal, so that the target's sessions at its other portals go on:
 *   - when the TCP sockets of tgtd can be read (`tcpConnections`: procfs, tgt-daemon-sockets.ts),
 *     with tgtd's own `--mode conn --op delete` for each of the target's connections whose
 *     initiator address has a socket at the portal, as long as that address has none at the
 *     target's other portals (then which of its connections came through this portal is unknown,
 *     and the next way decides);
 *   - else by destroying the TCP sockets whose local end is the portal (`ss -K`). Where the
 *     kernel cannot destroy sockets (it needs CONFIG_INET_DIAG_DESTROY), the first way, from then
 *     on.
 */
import type { CommandResult, CommandRunner } from "../exec/command-runner.js";
import type { Logger } from "../log/logger.js";
import type { DriverCallOptions } from "./target-driver.js";
import type { Tgtadm } from "./tgt-admin.js";
import { canonicalIp, type TcpConnection, type TcpEnd } from "./tgt-daemon-sockets.js";
import { parseTgtConnections, type TgtConnection, type TgtTarget } from "./tgt-show.js";

export interface TgtConnectionCloserOptions {
  tgtadm: Tgtadm;
  /** Runs `ss` (in the node's namespace, like tgtadm). */
  runner: CommandRunner;
  /** Per `ss` call. */
  timeoutMs: number;
  /** tgtd's TCP sockets now; when unset (or failing), a portal's connections go with `ss -K`. */
  tcpConnections?: (() => Promise<TcpConnection[]>) | undefined;
  logger?: Logger | undefined;
}

export class TgtConnectionCloser {
  /** Whether `ss -K` closes sockets here (the kernel needs CONFIG_INET_DIAG_DESTROY). */
  private socketKill: "unknown" | "works" | "unsupported" = "unknown";

  constructor(private readonly options: TgtConnectionCloserOptions) {}

  /** Whether closing one portal's connections is known not to work here (all the target's go). */
  get portalOnlyUnsupported(): boolean {
    return this.socketKill === "unsupported" && this.options.tcpConnections === undefined;
  }

  /** Closes every open connection of the target, as tgtd lists them now (all at once). */
  async closeAll(target: TgtTarget, options: DriverCallOptions): Promise<void> {
    await this.close(target, await this.listed(target, options), options);
  }

  /**
   * Closes the connections that came in through ip:port only (the target keeps its sessions at its
   * `otherPortals`). With tgtd's sockets at hand: tgtd closes each of the target's connections from
   * an initiator address that has a socket at ip:port and none at the other portals; if one has
   * sockets at both, `ss -K` decides (below).
   */
  async closeAtPortal(
    target: TgtTarget,
    portal: TcpEnd,
    otherPortals: readonly TcpEnd[],
    options: DriverCallOptions,
  ): Promise<void> {
    const { tcpConnections, logger } = this.options;
    let sockets: TcpConnection[] | undefined;
    try {
      sockets = await tcpConnections?.();
    } catch (error) {
      logger?.warn({ err: error }, "cannot read tgtd's sockets: closing a portal's connections with ss -K");
    }
    if (sockets === undefined) return this.closeAtPortalWithSs(target, portal, options);

    const peersAt = (portals: readonly TcpEnd[]): Set<string> => {
      const wanted = new Set(portals.map((end) => `${canonicalIp(end.ip)} ${end.port}`));
      return new Set(
        sockets
          .filter((socket) => wanted.has(`${socket.local.ip} ${socket.local.port}`))
          .map((socket) => socket.remote.ip),
      );
    };
    const here = peersAt([portal]);
    if (here.size === 0) return;
    const elsewhere = peersAt(otherPortals);
    const throughHere = (await this.listed(target, options)).filter((connection) =>
      here.has(canonicalIp(connection.address)),
    );
    if (throughHere.some((connection) => elsewhere.has(canonicalIp(connection.address)))) {
      return this.closeAtPortalWithSs(target, portal, options);
    }
    await this.close(target, throughHere, options);
  }

  /**
   * `ss -K` destroys the TCP sockets whose local end is the portal, and tgtd ends their
   * connections. Until `ss -K` has been seen to work, the sockets are listed again after it; if any
   * is left, the kernel cannot destroy sockets and the target's connections are closed with tgtd's
   * `--mode conn --op delete` from then on.
   */
  private async closeAtPortalWithSs(
    target: TgtTarget,
    { ip, port }: TcpEnd,
    options: DriverCallOptions,
  ): Promise<void> {
    if (this.socketKill === "unsupported") return this.closeAll(target, options);
    const filter = ["-tnH", "state", "connected", "src", `${ip}:${port}`];
    const killed = await this.ss(["-K", ...filter], options);
    if (killed.stdout.trim() !== "") this.socketKill = "works";
    if (this.socketKill === "works") return;
    const left = await this.ss(filter, options);
    if (left.stdout.trim() === "") return;
    this.socketKill = "unsupported";
    this.options.logger?.warn(
      { portal: `${ip}:${port}` },
      "ss -K does not close sockets here: closing the target's connections with tgtd from now on",
    );
    await this.closeAll(target, options);
  }

  /** The target's connections as tgtd lists them now. */
  private async listed(target: TgtTarget, options: DriverCallOptions): Promise<TgtConnection[]> {
    const shown = await this.options.tgtadm(
      ["--op", "show", "--mode", "conn", "--tid", String(target.tid)],
      options,
    );
    return parseTgtConnections(shown.stdout);
  }

  /** Closes `connections` of the target (all at once). */
  private async close(
    target: TgtTarget,
    connections: readonly TgtConnection[],
    options: DriverCallOptions,
  ): Promise<void> {
    const tid = String(target.tid);
    await Promise.all(
      connections.map(async (connection) => {
        const args = ["--op", "delete", "--mode", "conn", "--tid", tid];
        try {
          await this.options.tgtadm(
            [...args, "--sid", String(connection.sessionId), "--cid", String(connection.connectionId)],
            options,
          );
        } catch (error) {
          // A connection that closed on its own meanwhile is fine.
          this.options.logger?.warn({ iqn: target.iqn, err: error }, "could not close an iSCSI connection");
        }
      }),
    );
  }

  private ss(args: readonly string[], options: DriverCallOptions): Promise<CommandResult> {
    return this.options.runner.run("ss", args, {
      timeoutMs: this.options.timeoutMs,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
  }
}
