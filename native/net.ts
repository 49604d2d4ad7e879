/**
 * The typed facade over native/build/Release/sanpath_net.node: IPv4 addresses over rtnetlink,
 * gratuitous ARP over an AF_PACKET socket and TCP sockets destroyed over sock_diag (SOCK_DESTROY, as
 * `ss -K`; native/src/net_*.cc), each call on a thread of its own with a deadline, optionally inside
 * a named network namespace (/run/netns/<name>).
 *
 * The `Native*` types declare exactly what the C++ side accepts and returns; nothing else touches
 * the addon. `openNetChannel()` wraps it; every kernel errno becomes a domain error in this file
 * only: `netCallError` for a call that failed as a whole (a socket, the namespace, the deadline),
 * `addressOutcome` for the kernel's answer to one address, `socketDestroyOutcome` for its answer to
 * one socket.
 */
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { SanpathError } from "../src/errors/sanpath-error.js";
import { projectRoot } from "../src/util/project-root.js";

// ---- the boundary: what the addon exports -------------------------------------------------------

export interface NativeNetTarget {
  /** A namespace under /run/netns (as `ip netns add` makes them); omitted: the process's own. */
  netns?: string;
  /** Whole milliseconds in 1..600000. */
  timeoutMs: number;
}

export interface NativeAddressChange {
  /** A device name of 1..15 characters. */
  device: string;
  ip: string;
  /** 0..32. */
  prefixLength: number;
}

/** The kernel's answer to one change. */
export interface NativeAddressAnswer {
  /** 0 when done, else a negative errno (-17 EEXIST, -99 EADDRNOTAVAIL, -19 ENODEV, ...). */
  errno: number;
  /** "OK", "EEXIST", ... ("EUNKNOWN" for an errno the addon does not name). */
  code: string;
  /** "link": the device was not found; "address": the kernel's answer to the change itself. */
  step: "link" | "address";
  /** The kernel's extended acknowledgement, when it gave one. */
  kernelMessage?: string;
}

export interface NativeDumpedAddress {
  ip: string;
  prefixLength: number;
  device: string;
  ifindex: number;
}

/** A TCP connection by its 4-tuple, as seen from its own namespace (IPv4, or IPv4-mapped IPv6). */
export interface NativeTcpSocket {
  localIp: string;
  /** 1..65535. */
  localPort: number;
  remoteIp: string;
  /** 1..65535. */
  remotePort: number;
}

/** The kernel's answer to destroying one socket. */
export interface NativeSocketDestroyAnswer {
  /** 0 when destroyed, else a negative errno (-2 ENOENT, -95 EOPNOTSUPP, -1 EPERM, ...). */
  errno: number;
  code: string;
  /**
   * "lookup": the exact lookup that comes first found no such connection (ENOENT; also when the
   * kernel's lookup fell back to a listener or found a TIME_WAIT socket), or failed;
   * "destroy": the kernel's answer to SOCK_DESTROY of the connection found.
   */
  step: "lookup" | "destroy";
  kernelMessage?: string;
}

export interface NativeNetBinding {
  /** RTM_NEWADDR (create, exclusive) per change, in one send; one answer per change, in order. */
  addAddresses(
    target: NativeNetTarget,
    changes: readonly NativeAddressChange[],
  ): Promise<NativeAddressAnswer[]>;
  /** RTM_DELADDR per change (IP and prefix must match); one answer per change, in order. */
  deleteAddresses(
    target: NativeNetTarget,
    changes: readonly NativeAddressChange[],
  ): Promise<NativeAddressAnswer[]>;
  /** Every IPv4 address of every device, loopback included. */
  dumpAddresses(target: NativeNetTarget): Promise<NativeDumpedAddress[]>;
  /** The device's interface index; null when there is no such device. */
  linkIndex(target: NativeNetTarget, device: string): Promise<number | null>;
  /** One unsolicited ARP request (sender IP = target IP = `ip`, to the broadcast address), as `arping -U -c 1`. */
  sendGratuitousArp(target: NativeNetTarget, device: string, ip: string): Promise<void>;
  /**
   * SOCK_DESTROY of each connected TCP socket (looked up exactly first, destroyed by the kernel's
   * cookie: never a listener); one answer per socket, in order. At most 4096 sockets per call.
   */
  destroyTcpSockets(
    target: NativeNetTarget,
    sockets: readonly NativeTcpSocket[],
  ): Promise<NativeSocketDestroyAnswer[]>;
}

export type NativeNetOp =
  "address_add" | "address_delete" | "address_dump" | "link_index" | "gratuitous_arp" | "tcp_destroy";

/** The properties the addon puts on every Error it rejects with (native/src/net_failure.cc). */
export interface NativeNetError extends Error {
  op: NativeNetOp;
  /** What failed: "open_netns", "setns", "socket", "send", "recv", "deadline", "SIOCGIFINDEX", ... */
  step: string;
  /** Negative errno. */
  errno: number;
  code: string;
  netns?: string;
  detail?: string;
}

export function isNativeNetError(error: unknown): error is NativeNetError {
  if (!(error instanceof Error)) return false;
  const fields = error as Error & Record<string, unknown>;
  return typeof fields.op === "string" && typeof fields.errno === "number" && typeof fields.step === "string";
}

const ADDON_FILE = join("native", "build", "Release", "sanpath_net.node");
let binding: NativeNetBinding | undefined;

/** The path the addon is loaded from. */
export function netAddonPath(): string {
  return join(projectRoot(), ADDON_FILE);
}

/** Loads the addon on first use; throws a SanpathError (DRIVER_FAILED) when it is missing or unloadable. */
export function loadNetBinding(): NativeNetBinding {
  if (binding !== undefined) return binding;
  const path = netAddonPath();
  if (!existsSync(path)) {
    throw new SanpathError(
      "failed_precondition",
      `the net addon is not built (${path} is missing): run "npm install" or "npx node-gyp rebuild --directory native"`,
      { reason: "DRIVER_FAILED" },
    );
  }
  try {
    const require = createRequire(import.meta.url);
    binding = require(path) as NativeNetBinding;
  } catch (error) {
    throw new SanpathError(
      "failed_precondition",
      `the net addon ${path} cannot be loaded: ${error instanceof Error ? error.message : String(error)}`,
      { reason: "DRIVER_FAILED", cause: error },
    );
  }
  return binding;
}

// ---- errno → domain errors ----------------------------------------------------------------------

export const ERRNO = {
  EPERM: -1,
  ENOENT: -2,
  ENOMEM: -12,
  EACCES: -13,
  EEXIST: -17,
  ENODEV: -19,
  EINVAL: -22,
  EOPNOTSUPP: -95,
  EADDRNOTAVAIL: -99,
  ENETDOWN: -100,
  ENOBUFS: -105,
  ETIMEDOUT: -110,
} as const;

/** What the caller was doing, for messages. */
export interface NetCallContext {
  /** The namespace the call acted in; undefined: the process's own. */
  netns?: string | undefined;
  timeoutMs: number;
  /** The device the call was about, when one. */
  device?: string | undefined;
}

function where(netns: string | undefined): string {
  return netns === undefined ? "" : ` in network namespace ${netns}`;
}

function systemCause(error: NativeNetError): string {
  return `${error.step}: ${error.code} (errno ${error.errno})`;
}

function driverFailed(message: string, cause: unknown, kind: "internal" | "deadline_exceeded" = "internal") {
  return new SanpathError(kind, message, { reason: "DRIVER_FAILED", cause });
}

/** Maps a call of the addon that failed as a whole to the domain error; keeps it as `cause`. */
export function netCallError(error: unknown, context: NetCallContext): SanpathError {
  if (error instanceof SanpathError) return error;
  if (!isNativeNetError(error)) {
    return driverFailed(`net call failed${where(context.netns)}: ${String(error)}`, error);
  }
  const at = where(error.netns ?? context.netns);
  const device = context.device ?? "the device";
  switch (error.errno) {
    case ERRNO.ETIMEDOUT:
      return driverFailed(
        `the kernel did not answer net ${error.op}${at} within ${context.timeoutMs} ms (${systemCause(error)})`,
        error,
        "deadline_exceeded",
      );
    case ERRNO.EPERM:
    case ERRNO.EACCES:
      return driverFailed(
        `net ${error.op}${at} is not permitted: sanpathd needs root (CAP_NET_ADMIN, CAP_NET_RAW; ` +
          `CAP_SYS_ADMIN to enter a namespace) (${systemCause(error)})`,
        error,
      );
    case ERRNO.ENOENT:
      if (error.step === "open_netns") {
        return driverFailed(`network namespace ${error.netns ?? context.netns ?? "?"} does not exist`, error);
      }
      break;
    case ERRNO.ENODEV:
      return driverFailed(
        `net ${error.op}${at}: there is no device ${device} (${systemCause(error)})`,
        error,
      );
    case ERRNO.ENETDOWN:
      return driverFailed(`net ${error.op}${at}: ${device} is down (${systemCause(error)})`, error);
    case ERRNO.EOPNOTSUPP:
      if (error.op === "tcp_destroy") {
        return driverFailed(
          `net ${error.op}${at}: the kernel cannot destroy sockets (CONFIG_INET_DIAG_DESTROY) (${systemCause(error)})`,
          error,
        );
      }
      return driverFailed(
        `net ${error.op}${at}: ${device} is not an Ethernet device that does ARP (${systemCause(error)})`,
        error,
      );
    case ERRNO.ENOMEM:
    case ERRNO.ENOBUFS:
      return driverFailed(`net ${error.op}${at}: the kernel is out of memory (${systemCause(error)})`, error);
  }
  return driverFailed(error.message, error);
}

export type AddressAction = "add" | "delete";

/**
 * The kernel's answer to one address change:
 * - done: changed as asked;
 * - unchanged: already as asked (add: EEXIST, the address is on the device with that prefix;
 *   delete: EADDRNOTAVAIL, it is not there);
 * - no_device: the device does not exist (for a deletion: the address went with it);
 * - refused: any other errno, with the domain error that says why.
 */
export type AddressOutcome =
  | { kind: "done" }
  | { kind: "unchanged" }
  | { kind: "no_device"; error: SanpathError }
  | { kind: "refused"; error: SanpathError };

export function addressOutcome(
  action: AddressAction,
  change: NativeAddressChange,
  answer: NativeAddressAnswer,
  netns?: string,
): AddressOutcome {
  if (answer.errno === 0) return { kind: "done" };
  if (action === "add" && answer.errno === ERRNO.EEXIST) return { kind: "unchanged" };
  if (action === "delete" && answer.errno === ERRNO.EADDRNOTAVAIL) return { kind: "unchanged" };
  const what = `${action === "add" ? "adding" : "deleting"} ${change.ip}/${change.prefixLength} on ${change.device}${where(netns)}`;
  const said = answer.kernelMessage === undefined ? "" : `; the kernel says: ${answer.kernelMessage}`;
  const cause = `${answer.code} (errno ${answer.errno})${said}`;
  if (answer.step === "link" || answer.errno === ERRNO.ENODEV) {
    return {
      kind: "no_device",
      error: driverFailed(`${what}: there is no device ${change.device} (${cause})`, answer),
    };
  }
  let why: string;
  switch (answer.errno) {
    case ERRNO.EPERM:
    case ERRNO.EACCES:
      why = "not permitted, sanpathd needs CAP_NET_ADMIN";
      break;
    case ERRNO.EINVAL:
      why = "the kernel found the request invalid";
      break;
    case ERRNO.EEXIST:
      why = "the address exists already in a way that conflicts";
      break;
    case ERRNO.EADDRNOTAVAIL:
      why = "the address is not on the device";
      break;
    case ERRNO.ENOMEM:
    case ERRNO.ENOBUFS:
      why = "the kernel is out of memory";
      break;
    default:
      why = "the kernel refused";
  }
  return { kind: "refused", error: driverFailed(`${what}: ${why} (${cause})`, answer) };
}

/**
 * The kernel's answer to destroying one TCP socket:
 * - destroyed: aborted (its owner's calls fail, the peer gets a reset);
 * - gone: there is no such connection (ENOENT: it closed already, or never was in this namespace);
 * - unsupported: the kernel cannot destroy sockets (EOPNOTSUPP: built without
 *   CONFIG_INET_DIAG_DESTROY), and will not for any other;
 * - refused: any other errno (EPERM without CAP_NET_ADMIN, ...), with the domain error that says why.
 */
export type SocketDestroyOutcome =
  | { kind: "destroyed" }
  | { kind: "gone" }
  | { kind: "unsupported"; error: SanpathError }
  | { kind: "refused"; error: SanpathError };

export function socketDestroyOutcome(
  socket: NativeTcpSocket,
  answer: NativeSocketDestroyAnswer,
  netns?: string,
): SocketDestroyOutcome {
  if (answer.errno === 0) return { kind: "destroyed" };
  if (answer.errno === ERRNO.ENOENT) return { kind: "gone" };
  const what =
    `destroying the TCP socket ${socket.localIp}:${socket.localPort} - ${socket.remoteIp}:${socket.remotePort}` +
    where(netns);
  const said = answer.kernelMessage === undefined ? "" : `; the kernel says: ${answer.kernelMessage}`;
  const cause = `${answer.step}: ${answer.code} (errno ${answer.errno})${said}`;
  switch (answer.errno) {
    case ERRNO.EOPNOTSUPP:
      return {
        kind: "unsupported",
        error: driverFailed(
          `${what}: the kernel cannot destroy sockets (it needs CONFIG_INET_DIAG_DESTROY) (${cause})`,
          answer,
        ),
      };
    case ERRNO.EPERM:
    case ERRNO.EACCES:
      return {
        kind: "refused",
        error: driverFailed(`${what}: not permitted, sanpathd needs CAP_NET_ADMIN (${cause})`, answer),
      };
    default:
      return { kind: "refused", error: driverFailed(`${what}: the kernel refused (${cause})`, answer) };
  }
}

// ---- the facade ---------------------------------------------------------------------------------

export interface NetChannelOptions {
  /** A namespace under /run/netns to act in (tests); omitted: the process's own (sanpathd). */
  netns?: string;
  /** Per call; whole milliseconds in 1..600000. */
  timeoutMs: number;
}

export interface KernelAddress {
  ip: string;
  prefixLength: number;
  device: string;
}

/** The addon bound to one namespace and timeout; every failure is a SanpathError. */
export interface NetChannel {
  readonly netns: string | undefined;
  addAddresses(changes: readonly NativeAddressChange[]): Promise<AddressOutcome[]>;
  deleteAddresses(changes: readonly NativeAddressChange[]): Promise<AddressOutcome[]>;
  /** Every IPv4 address of every device, loopback included. */
  dumpAddresses(): Promise<KernelAddress[]>;
  linkExists(device: string): Promise<boolean>;
  /** Resolves once the frame is queued on the device. */
  sendGratuitousArp(device: string, ip: string): Promise<void>;
  /** Destroys each TCP connection (SOCK_DESTROY); one outcome per socket, in order. */
  destroyTcpSockets(sockets: readonly NativeTcpSocket[]): Promise<SocketDestroyOutcome[]>;
}

/**
 * Grace past the addon's own deadline before the facade stops waiting for it: the addon's poll
 * ends on time, but a send into the kernel waits for the rtnl lock without a bound.
 */
const DEADLINE_GRACE_MS = 500;

export function openNetChannel(
  options: NetChannelOptions,
  addon: NativeNetBinding = loadNetBinding(),
): NetChannel {
  const target: NativeNetTarget = {
    timeoutMs: options.timeoutMs,
    ...(options.netns === undefined ? {} : { netns: options.netns }),
  };
  const context = (device?: string): NetCallContext => ({
    netns: options.netns,
    timeoutMs: options.timeoutMs,
    device,
  });
  const call = async <T>(op: NativeNetOp, run: () => Promise<T>, device?: string): Promise<T> => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        const error = Object.assign(new Error(`net ${op}: no answer from the addon`), {
          op,
          step: "deadline",
          errno: ERRNO.ETIMEDOUT,
          code: "ETIMEDOUT",
        });
        reject(error);
      }, options.timeoutMs + DEADLINE_GRACE_MS);
    });
    try {
      return await Promise.race([run(), late]);
    } catch (error) {
      throw netCallError(error, context(device));
    } finally {
      clearTimeout(timer);
    }
  };
  const change = async (action: AddressAction, changes: readonly NativeAddressChange[]) => {
    if (changes.length === 0) return [];
    const answers = await call(action === "add" ? "address_add" : "address_delete", () =>
      action === "add" ? addon.addAddresses(target, changes) : addon.deleteAddresses(target, changes),
    );
    return changes.map((asked, at): AddressOutcome => {
      const answer = answers[at];
      if (answer === undefined) {
        const error = driverFailed(
          `the net addon gave no answer for ${asked.ip} on ${asked.device}`,
          answers,
        );
        return { kind: "refused", error };
      }
      return addressOutcome(action, asked, answer, options.netns);
    });
  };
  return {
    netns: options.netns,
    addAddresses: (changes) => change("add", changes),
    deleteAddresses: (changes) => change("delete", changes),
    dumpAddresses: async () =>
      (await call("address_dump", () => addon.dumpAddresses(target))).map(({ ip, prefixLength, device }) => ({
        ip,
        prefixLength,
        device,
      })),
    linkExists: async (device) =>
      (await call("link_index", () => addon.linkIndex(target, device), device)) !== null,
    sendGratuitousArp: (device, ip) =>
      call("gratuitous_arp", () => addon.sendGratuitousArp(target, device, ip), device),
    destroyTcpSockets: async (sockets) => {
      if (sockets.length === 0) return [];
      const answers = await call("tcp_destroy", () => addon.destroyTcpSockets(target, sockets));
      return sockets.map((asked, at): SocketDestroyOutcome => {
        const answer = answers[at];
        if (answer === undefined) {
          const error = driverFailed(
            `the net addon gave no answer for the TCP socket ${asked.localIp}:${asked.localPort} - ` +
              `${asked.remoteIp}:${asked.remotePort}`,
            answers,
          );
          return { kind: "refused", error };
        }
        return socketDestroyOutcome(asked, answer, options.netns);
      });
    },
  };
}
