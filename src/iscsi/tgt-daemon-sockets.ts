/**
 * The TCP connections of a running tgtd, read from procfs without starting a process: tgtd's PID
 * is the holder of the POSIX lock on its control socket's lock file (`/proc/locks`, matched by
 * device and inode of the file), and `/proc/<pid>/net/tcp` and `tcp6` list the sockets of the
 * network namespace tgtd runs in (the node's own, or a test's namespace). tgtd's own listings give
 * a connection's initiator address only; these give the local end too (through which portal it
 * came).
 */
import { readFile, stat } from "node:fs/promises";
import { endianness } from "node:os";

export interface TcpEnd {
  ip: string;
  port: number;
}

export interface TcpConnection {
  local: TcpEnd;
  remote: TcpEnd;
}

/** Socket states that are not a connection tgtd holds: TIME_WAIT, CLOSE, LISTEN (include/net/tcp_states.h). */
const NOT_CONNECTED_STATES = new Set([0x06, 0x07, 0x0a]);

/** The connected TCP sockets of the tgtd that holds the lock file `lockPath`. */
export async function tgtdTcpConnections(lockPath: string): Promise<TcpConnection[]> {
  const pid = await lockHolderPid(lockPath);
  if (pid === undefined) throw new Error(`no process holds a lock on ${lockPath}: tgtd is not running`);
  const [ipv4, ipv6] = await Promise.all([
    readFile(`/proc/${pid}/net/tcp`, "utf8"),
    readFile(`/proc/${pid}/net/tcp6`, "utf8").catch(() => ""),
  ]);
  return [...parseProcNetTcp(ipv4), ...parseProcNetTcp(ipv6)];
}

/** The PID of the process holding a POSIX lock on `path`, as /proc/locks tells. */
export async function lockHolderPid(path: string): Promise<number | undefined> {
  const [file, locks] = await Promise.all([stat(path), readFile("/proc/locks", "utf8")]);
  return lockHolderIn(locks, deviceNumbers(file.dev), file.ino);
}

/** Major and minor of a stat `dev` (the kernel's new_encode_dev). */
export function deviceNumbers(dev: number): { major: number; minor: number } {
  return { major: (dev >>> 8) & 0xfff, minor: (dev & 0xff) | ((dev >>> 12) & 0xfff00) };
}

/**
 * The PID in /proc/locks `text` holding a POSIX lock on the file `inode` of device `device`.
 * Lines: "1: POSIX  ADVISORY  WRITE 19606 fe:00:1483662 0 0" (major and minor in hex); a waiter's
 * line has "->" after the number and holds nothing.
 */
export function lockHolderIn(
  text: string,
  device: { major: number; minor: number },
  inode: number,
): number | undefined {
  for (const line of text.split("\n")) {
    const fields = line.trim().split(/\s+/);
    if (fields[1] !== "POSIX") continue;
    const pid = Number(fields[4]);
    const [major, minor, lockedInode] = (fields[5] ?? "").split(":");
    if (
      Number.isSafeInteger(pid) &&
      pid > 0 &&
      Number.parseInt(major ?? "", 16) === device.major &&
      Number.parseInt(minor ?? "", 16) === device.minor &&
      Number(lockedInode) === inode
    ) {
      return pid;
    }
  }
  return undefined;
}

/**
 * The connected sockets in a /proc/net/tcp or tcp6 listing. Addresses are the kernel's 32-bit
 * words in host byte order, in hex (`0100007F:0CBC` is 127.0.0.1:3260 on a little-endian host);
 * IPv4-mapped IPv6 addresses are given as IPv4, IPv6 ones in full lower-case groups (canonicalIp).
 */
export function parseProcNetTcp(text: string, little = endianness() === "LE"): TcpConnection[] {
  const connections: TcpConnection[] = [];
  for (const line of text.split("\n").slice(1)) {
    const fields = line.trim().split(/\s+/);
    const local = fields[1];
    const remote = fields[2];
    const state = Number.parseInt(fields[3] ?? "", 16);
    if (local === undefined || remote === undefined || Number.isNaN(state)) continue;
    if (NOT_CONNECTED_STATES.has(state)) continue;
    const localEnd = procTcpEnd(local, little);
    const remoteEnd = procTcpEnd(remote, little);
    if (localEnd !== undefined && remoteEnd !== undefined)
      connections.push({ local: localEnd, remote: remoteEnd });
  }
  return connections;
}

function procTcpEnd(text: string, little: boolean): TcpEnd | undefined {
  const [address, port] = text.split(":");
  if (address === undefined || port === undefined || !/^[0-9A-Fa-f]+$/.test(address)) return undefined;
  if (address.length !== 8 && address.length !== 32) return undefined;
  const bytes = Buffer.from(address, "hex");
  if (little) {
    for (let word = 0; word < bytes.length; word += 4) bytes.subarray(word, word + 4).reverse();
  }
  const ip =
    bytes.length === 4
      ? [...bytes].join(".")
      : canonicalIp(
          Array.from({ length: 8 }, (_, group) => bytes.readUInt16BE(group * 2).toString(16)).join(":"),
        );
  return { ip, port: Number.parseInt(port, 16) };
}

/**
 * One spelling per address, to compare what tgtd and procfs say: IPv4 as is, IPv4-mapped IPv6 as
 * IPv4, other IPv6 as eight groups of four lower-case hex digits (zone dropped).
 */
export function canonicalIp(text: string): string {
  if (!text.includes(":")) return text;
  const address = (text.split("%")[0] ?? "").toLowerCase();
  const dotted = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(address);
  let hex = address;
  if (dotted?.[1] !== undefined && dotted[2] !== undefined) {
    const [a = 0, b = 0, c = 0, d = 0] = dotted[2].split(".").map(Number);
    hex = `${dotted[1]}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = "", tail] = hex.split("::");
  const headGroups = head === "" ? [] : head.split(":");
  const tailGroups = tail === undefined || tail === "" ? [] : tail.split(":");
  const missing = tail === undefined ? 0 : 8 - headGroups.length - tailGroups.length;
  const groups = [...headGroups, ...Array.from({ length: missing }, () => "0"), ...tailGroups].map((group) =>
    group.padStart(4, "0"),
  );
  const mapped = groups.slice(0, 5).every((group) => group === "0000") && groups[5] === "ffff";
  if (mapped) {
    const high = Number.parseInt(groups[6] ?? "0", 16);
    const low = Number.parseInt(groups[7] ?? "0", 16);
    return [high >> 8, high & 0xff, low >> 8, low & 0xff].join(".");
  }
  return groups.join(":");
}
