/**
 * Closing one portal's connections with tgtd's own `--mode conn --op delete`, chosen by tgtd's TCP
 * sockets (what the socket channel does), and the fall-back to `ss -K` when the sockets cannot be
 * read or do not tell. The `ss -K`-only way is in iscsi-tgt-driver.test.ts.
 */
import { describe, expect, it } from "vitest";
import type { CommandArg, CommandResult } from "../../src/exec/command-runner.js";
import { renderCommand } from "../../src/exec/command-runner.js";
import { RecordingRunner } from "../../src/exec/recording-runner.js";
import type { Tgtadm } from "../../src/iscsi/tgt-admin.js";
import { TgtConnectionCloser } from "../../src/iscsi/tgt-connection-closer.js";
import type { TcpConnection } from "../../src/iscsi/tgt-daemon-sockets.js";
import { emptyTgtTarget } from "../../src/iscsi/tgt-show.js";

const CONNECTIONS =
  "Session: 3\n    Connection: 0\n        Initiator: iqn.1994-05.org.example:a\n        IP Address: 198.51.100.9\n" +
  "Session: 4\n    Connection: 0\n        Initiator: iqn.1994-05.org.example:a\n        IP Address: 198.51.100.9\n" +
  "Session: 5\n    Connection: 1\n        Initiator: iqn.1994-05.org.example:b\n        IP Address: 198.51.100.8\n";

const PORTAL = { ip: "198.51.100.50", port: 3260 };
const OTHER = { ip: "198.51.100.51", port: 3260 };

function socket(local: { ip: string; port: number }, remoteIp: string, remotePort: number): TcpConnection {
  return { local, remote: { ip: remoteIp, port: remotePort } };
}

/** A Tgtadm that lists CONNECTIONS and records every call. */
function recordingTgtadm(): { tgtadm: Tgtadm; calls: string[] } {
  const calls: string[] = [];
  const tgtadm: Tgtadm = (args: readonly CommandArg[]): Promise<CommandResult> => {
    calls.push(renderCommand("tgtadm", args));
    const stdout = args.includes("show") ? CONNECTIONS : "";
    return Promise.resolve({ stdout, stderr: "", exitCode: 0 });
  };
  return { tgtadm, calls };
}

const target = emptyTgtTarget(1, "iqn.2016-05.org.sanpath:00001", "ready");
const close = (sid: number, cid: number) =>
  `tgtadm --op delete --mode conn --tid 1 --sid ${sid} --cid ${cid}`;

describe("TgtConnectionCloser with tgtd's sockets", () => {
  it("closes, through tgtd, the target's connections from the initiators connected at the portal only", async () => {
    const { tgtadm, calls } = recordingTgtadm();
    const runner = new RecordingRunner();
    const closer = new TgtConnectionCloser({
      tgtadm,
      runner,
      timeoutMs: 1000,
      tcpConnections: () =>
        Promise.resolve([socket(PORTAL, "198.51.100.9", 40000), socket(OTHER, "198.51.100.8", 40001)]),
    });
    await closer.closeAtPortal(target, PORTAL, [OTHER], {});
    expect(calls).toEqual(["tgtadm --op show --mode conn --tid 1", close(3, 0), close(4, 0)]);
    expect(runner.commands()).toEqual([]);
    expect(closer.portalOnlyUnsupported).toBe(false);
  });

  it("does nothing when no socket is at the portal", async () => {
    const { tgtadm, calls } = recordingTgtadm();
    const runner = new RecordingRunner();
    const closer = new TgtConnectionCloser({
      tgtadm,
      runner,
      timeoutMs: 1000,
      tcpConnections: () => Promise.resolve([socket(OTHER, "198.51.100.9", 40000)]),
    });
    await closer.closeAtPortal(target, PORTAL, [OTHER], {});
    expect(calls).toEqual([]);
    expect(runner.commands()).toEqual([]);
  });

  it("leaves it to ss -K when an initiator has sockets at this portal and another of the target's", async () => {
    const { tgtadm, calls } = recordingTgtadm();
    const runner = new RecordingRunner().when(/^ss -K /, {
      stdout: "ESTAB 0 0 198.51.100.50:3260 198.51.100.9:40000\n",
    });
    const closer = new TgtConnectionCloser({
      tgtadm,
      runner,
      timeoutMs: 1000,
      tcpConnections: () =>
        Promise.resolve([socket(PORTAL, "198.51.100.9", 40000), socket(OTHER, "198.51.100.9", 40001)]),
    });
    await closer.closeAtPortal(target, PORTAL, [OTHER], {});
    expect(calls).toEqual(["tgtadm --op show --mode conn --tid 1"]);
    expect(runner.commands()).toEqual(["ss -K -tnH state connected src 198.51.100.50:3260"]);
  });

  it("uses ss -K when tgtd's sockets cannot be read, and keeps choosing by sockets after ss -K proved useless", async () => {
    const { tgtadm, calls } = recordingTgtadm();
    const runner = new RecordingRunner().when(/^ss -tnH /, {
      stdout: "ESTAB 0 0 198.51.100.50:3260 198.51.100.9:40000\n",
    });
    let readable = false;
    const closer = new TgtConnectionCloser({
      tgtadm,
      runner,
      timeoutMs: 1000,
      tcpConnections: () =>
        readable
          ? Promise.resolve([socket(PORTAL, "198.51.100.8", 40000)])
          : Promise.reject(new Error("no process holds a lock")),
    });
    await closer.closeAtPortal(target, PORTAL, [OTHER], {});
    expect(runner.commands()).toEqual([
      "ss -K -tnH state connected src 198.51.100.50:3260",
      "ss -tnH state connected src 198.51.100.50:3260",
    ]);
    // ss -K left the socket: all the target's connections went, through tgtd.
    expect(calls).toEqual(["tgtadm --op show --mode conn --tid 1", close(3, 0), close(4, 0), close(5, 1)]);
    expect(closer.portalOnlyUnsupported).toBe(false);

    readable = true;
    calls.length = 0;
    runner.clear();
    await closer.closeAtPortal(target, PORTAL, [OTHER], {});
    expect(calls).toEqual(["tgtadm --op show --mode conn --tid 1", close(5, 1)]);
    expect(runner.commands()).toEqual([]);
  });
});
