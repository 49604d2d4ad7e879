/**
 * Reading tgtd's TCP sockets from procfs: /proc/locks (who holds the lock file), /proc/<pid>/net/tcp
 * and tcp6 (which connections, through which local address), and one spelling per IP address.
 */
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  canonicalIp,
  deviceNumbers,
  lockHolderIn,
  lockHolderPid,
  parseProcNetTcp,
} from "../../src/iscsi/tgt-daemon-sockets.js";

const TCP4 = `  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 326433C6:0CBC 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1280 1 0 100 0 0 10 0
   1: 326433C6:0CBC 096433C6:9C40 01 00000000:00000000 00:00000000 00000000     0        0 1281 1 0 20 4 30 10 -1
   2: 336433C6:0CBC 096433C6:9C41 08 00000000:00000000 00:00000000 00000000     0        0 1282 1 0 20 4 30 10 -1
   3: 336433C6:0CBC 086433C6:9C42 06 00000000:00000000 00:00000000 00000000     0        0 0 3 0
`;
const TCP6 = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: B80D0120000000000000000050000000:0CBC B80D0120000000000000000009000000:A000 01 00000000:00000000 00:00000000 00000000     0        0 1290 1 0 20 4 30 10 -1
   1: 0000000000000000FFFF0000326433C6:0CBC 0000000000000000FFFF0000096433C6:A001 01 00000000:00000000 00:00000000 00000000     0        0 1291 1 0 20 4 30 10 -1
`;

describe("procfs TCP listings", () => {
  it("gives the connected sockets of /proc/net/tcp with both ends (little-endian words), not listeners or TIME_WAIT", () => {
    expect(parseProcNetTcp(TCP4, true)).toEqual([
      { local: { ip: "198.51.100.50", port: 3260 }, remote: { ip: "198.51.100.9", port: 40000 } },
      { local: { ip: "198.51.100.51", port: 3260 }, remote: { ip: "198.51.100.9", port: 40001 } },
    ]);
  });

  it("reads tcp6: full IPv6 groups, IPv4-mapped addresses as IPv4", () => {
    expect(parseProcNetTcp(TCP6, true)).toEqual([
      {
        local: { ip: "2001:0db8:0000:0000:0000:0000:0000:0050", port: 3260 },
        remote: { ip: "2001:0db8:0000:0000:0000:0000:0000:0009", port: 40960 },
      },
      { local: { ip: "198.51.100.50", port: 3260 }, remote: { ip: "198.51.100.9", port: 40961 } },
    ]);
  });

  it("reads big-endian words in their order", () => {
    const line = "  sl h\n   0: C6336432:0CBC C6336409:9C40 01 0 0 0 0 0 1\n";
    expect(parseProcNetTcp(line, false)).toEqual([
      { local: { ip: "198.51.100.50", port: 3260 }, remote: { ip: "198.51.100.9", port: 40000 } },
    ]);
  });

  it("spells each address one way: what tgtd prints and what procfs gives compare equal", () => {
    expect(canonicalIp("198.51.100.9")).toBe("198.51.100.9");
    expect(canonicalIp("2001:db8::9")).toBe("2001:0db8:0000:0000:0000:0000:0000:0009");
    expect(canonicalIp("2001:DB8:0:0::9%eth1")).toBe("2001:0db8:0000:0000:0000:0000:0000:0009");
    expect(canonicalIp("::ffff:198.51.100.9")).toBe("198.51.100.9");
    expect(canonicalIp("::1")).toBe("0000:0000:0000:0000:0000:0000:0000:0001");
    expect(canonicalIp("fe80::")).toBe("fe80:0000:0000:0000:0000:0000:0000:0000");
  });
});

describe("the holder of a lock file", () => {
  const LOCKS = `1: POSIX  ADVISORY  WRITE 19606 fe:00:1483662 0 0
2: POSIX  ADVISORY  WRITE 321 00:19:77 0 0
2: -> POSIX  ADVISORY  WRITE 999 00:19:77 0 0
3: FLOCK  ADVISORY  WRITE 555 00:19:78 0 EOF
4: OFDLCK ADVISORY  READ  -1 00:19:79 0 0
`;

  it("is the PID of the POSIX lock on the file's device (hex major:minor) and inode", () => {
    expect(lockHolderIn(LOCKS, { major: 0xfe, minor: 0 }, 1483662)).toBe(19606);
    expect(lockHolderIn(LOCKS, { major: 0, minor: 0x19 }, 77)).toBe(321);
    expect(lockHolderIn(LOCKS, { major: 0, minor: 0x18 }, 77)).toBeUndefined();
    expect(lockHolderIn(LOCKS, { major: 0, minor: 0x19 }, 78)).toBeUndefined();
    expect(lockHolderIn(LOCKS, { major: 0, minor: 0x19 }, 79)).toBeUndefined();
  });

  it("decodes stat's device number as the kernel encodes it", () => {
    expect(deviceNumbers(0xfe00)).toEqual({ major: 0xfe, minor: 0 });
    expect(deviceNumbers(0x19)).toEqual({ major: 0, minor: 0x19 });
    expect(deviceNumbers(0x12300000 + (0x8 << 8) + 0x45)).toEqual({ major: 8, minor: 0x12345 });
  });

  it("is nobody for a file no process locks (the real /proc/locks)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sanpath-lock-"));
    try {
      const file = join(dir, "socket.0.lock");
      writeFileSync(file, "");
      expect(statSync(file).ino).toBeGreaterThan(0);
      expect(await lockHolderPid(file)).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
