/**
 * Closes iSCSI connections to a tgt target when one of its portals is disabled. tgt does not tell
 * through which portal a connection came, so there are two ways:
 * - all the target's connections (`tgtadm --mode conn --op delete`, per connection tgtd lists
 *   now), when the portal was the target's last one or another target shares it;
 * - only those through one portal, so that the target's sessions at its other portals go on:
 *   - when the TCP sockets of tgtd can be read (`tcpConnections`: procfs, tgt-daemon-sockets.ts)
 *     and can be destroyed in this process (`destroySockets`: SOCK_DESTROY over sock_diag, the net
 *     addon), by destroying exactly the sockets whose local end is the portal: tgtd sees them fail
 *     and ends their connections (no request to tgtd, no process), whatever the initiators'
 *     addresses at other portals. A socket the kernel does not find must be gone from tgtd's
 *     sockets too (else the addon is not in tgtd's namespace: the next way, this time). Where the
 *     kernel cannot destroy sockets (EOPNOTSUPP: no CONFIG_INET_DIAG_DESTROY), the next way from
 *     then on (logged once); any other failure, the next way this time;
 *   - with tgtd's sockets only, tgtd's own `--mode conn --op delete` for each of the target's
 *     connections whose initiator address has a socket at the portal, as long as that address
 *     has none at the target's other portals (then which of its connections came through this
 *     portal is unknown, and the next way decides);
 *   - else by destroying the TCP sockets whose local end is the portal (`ss -K`). Where the
 *     kernel cannot destroy sockets (it needs CONFIG_INET_DIAG_DESTROY), the first way, from then
 *     on.
 */
import { isIPv4 } from "node:net";
import type { SocketDestroyOutcome } from "../../native/net.js";
import { errorMessage } from "../errors/sanpath-error.js";
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
  /**
   * Destroys TCP sockets of tgtd's namespace (SOCK_DESTROY; native/net.ts), one outcome per socket
   * in order; with `tcpConnections`, a portal's connections go this way (see the file header).
   */
  destroySockets?: ((sockets: readonly TcpConnection[]) => Promise<SocketDestroyOutcome[]>) | undefined;
  logger?: Logger | undefined;
}

export class TgtConnectionCloser {
  /** Whether `ss -K` closes sockets here (the kernel needs CONFIG_INET_DIAG_DESTROY). */
  private socketKill: "unknown" | "works" | "unsupported" = "unknown";
  /** Whether SOCK_DESTROY is known not to work here (`destroySockets` answered EOPNOTSUPP). */
  private destroyUnsupported = false;

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
   * `otherPortals`). With tgtd's sockets at hand: destroyed in this process when it can, else tgtd
   * closes each of the target's connections from an initiator address that has a socket at ip:port
   * and none at the other portals; if one has sockets at both, `ss -K` decides (below).
   */
  async closeAtPortal(
    target: TgtTarget,
    portal: TcpEnd,
    otherPortals: readonly TcpEnd[],
    options: DriverCallOptions,
  ): Promise<void> {
    let sockets = await this.tgtdSockets();
    if (sockets === undefined) return this.closeAtPortalWithSs(target, portal, options);
    const here = atPortal(sockets, portal);
    if (here.length === 0) return;
    if (this.options.destroySockets !== undefined && !this.destroyUnsupported) {
      const destroyed = await this.destroy(here, portal);
      if (destroyed) return;
      // Some of them may be gone now: what follows decides on tgtd's sockets as they are.
      sockets = await this.tgtdSockets();
      if (sockets === undefined) return this.closeAtPortalWithSs(target, portal, options);
    }
    await this.closeAtPortalThroughTgtd(target, portal, otherPortals, sockets, options);
  }

  /** tgtd's TCP sockets now; undefined when they cannot be read (or no reader is set). */
  private async tgtdSockets(): Promise<TcpConnection[] | undefined> {
    const { tcpConnections, logger } = this.options;
    try {
      return await tcpConnections?.();
    } catch (error) {
      logger?.warn({ err: error }, "cannot read tgtd's sockets: closing a portal's connections with ss -K");
      return undefined;
    }
  }

  /**
   * Destroys `sockets` (tgtd's, at the portal). True when each was destroyed or is gone from tgtd's
   * sockets; false when the portal's connections are left to the other ways (the kernel cannot
   * destroy sockets, refused one, or did not find one that tgtd still has).
   */
  private async destroy(sockets: readonly TcpConnection[], portal: TcpEnd): Promise<boolean> {
    const { destroySockets, logger } = this.options;
    if (destroySockets === undefined) return false;
    const at = `${portal.ip}:${portal.port}`;
    // The addon takes IPv4 (tgtd's IPv4-mapped sockets are read as IPv4).
    if (!sockets.every((socket) => isIPv4(socket.local.ip) && isIPv4(socket.remote.ip))) return false;
    let outcomes: SocketDestroyOutcome[];
    try {
      outcomes = await destroySockets(sockets);
    } catch (error) {
      logger?.warn(
        { portal: at, err: errorMessage(error) },
        "cannot destroy tgtd's sockets: closing the portal's connections without SOCK_DESTROY",
      );
      return false;
    }
    const unsupported = outcomes.find((outcome) => outcome.kind === "unsupported");
    if (unsupported !== undefined) {
      this.destroyUnsupported = true;
      logger?.warn(
        { portal: at, err: errorMessage(unsupported.error) },
        "the kernel cannot destroy sockets: closing a portal's connections without SOCK_DESTROY from now on",
      );
      return false;
    }
    const refused = outcomes.find((outcome) => outcome.kind === "refused");
    if (refused !== undefined || outcomes.length !== sockets.length) {
      logger?.warn(
        { portal: at, err: refused === undefined ? "answers missing" : errorMessage(refused.error) },
        "a socket of tgtd was not destroyed: closing the portal's connections without SOCK_DESTROY",
      );
      return false;
    }
    const gone = sockets.filter((_, index) => outcomes[index]?.kind === "gone");
    if (gone.length === 0) return true;
    // Not found by the kernel: closed meanwhile, or never in the namespace the addon acts in.
    const now = await this.options.tcpConnections?.().catch(() => undefined);
    const left = new Set(now?.map(socketKey));
    if (now !== undefined && !gone.some((socket) => left.has(socketKey(socket)))) return true;
    logger?.warn(
      { portal: at },
      "the kernel did not find sockets that tgtd still has (is the net addon in tgtd's namespace?): " +
        "closing the portal's connections without SOCK_DESTROY",
    );
    return false;
  }

  /**
   * tgtd closes each of the target's connections from an initiator address that has a socket at
   * the portal and none at the other portals; if one has sockets at both, `ss -K` decides.
   */
  private async closeAtPortalThroughTgtd(
    target: TgtTarget,
    portal: TcpEnd,
    otherPortals: readonly TcpEnd[],
    sockets: readonly TcpConnection[],
    options: DriverCallOptions,
  ): Promise<void> {
    const peersAt = (portals: readonly TcpEnd[]): Set<string> =>
      new Set(portals.flatMap((end) => atPortal(sockets, end)).map((socket) => socket.remote.ip));
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

/** The sockets whose local end is `portal`. */
function atPortal(sockets: readonly TcpConnection[], portal: TcpEnd): TcpConnection[] {
  const ip = canonicalIp(portal.ip);
  return sockets.filter((socket) => socket.local.ip === ip && socket.local.port === portal.port);
}

function socketKey({ local, remote }: TcpConnection): string {
  return `${local.ip} ${local.port} ${remote.ip} ${remote.port}`;
}
