/**
 * Closing one portal's connections by destroying tgtd's sockets at the portal in process
 * (SOCK_DESTROY, what the socket channel does with the net addon) and the fall-back from it; with
 * tgtd's own `--mode conn --op delete`, chosen by tgtd's TCP sockets (the socket channel without
 * the addon), and the fall-back to `ss -K` when the sockets cannot be read or do not tell. The
 * `ss -K`-only way is in iscsi-tgt-driver.test.ts.
 */
import { describe, expect, it } from "vitest";
import type { SocketDestroyOutcome } from "../../native/net.js";
import { SanpathError } from "../../src/errors/sanpath-error.js";
import type { CommandArg, CommandResult } from "../../src/exec/command-runner.js";
import { renderCommand } from "../../src/exec/command-runner.js";
import { RecordingRunner } from "../../src/exec/recording-runner.js";
import type { Tgtadm } from "../../src/iscsi/tgt-admin.js";
import { TgtConnectionCloser } from "../../src/iscsi/tgt-connection-closer.js";
import type { TcpConnection } from "../../src/iscsi/tgt-daemon-sockets.js";
import { emptyTgtTarget } from "../../src/iscsi/tgt-show.js";
import { createLogger } from "../../src/log/logger.js";

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

/** A destroySockets that records what it is asked and answers `outcome(socket)`. */
function recordingDestroyer(
  outcome: (socket: TcpConnection) => SocketDestroyOutcome | Error = () => ({
    kind: "destroyed",
  }),
) {
  const asked: TcpConnection[][] = [];
  const destroySockets = (sockets: readonly TcpConnection[]): Promise<SocketDestroyOutcome[]> => {
    asked.push([...sockets]);
    const outcomes = sockets.map(outcome);
    const failed = outcomes.find((answer) => answer instanceof Error);
    if (failed !== undefined) return Promise.reject(failed);
    return Promise.resolve(outcomes as SocketDestroyOutcome[]);
  };
  return { destroySockets, asked };
}

/** A logger whose warnings are kept (message texts). */
function warnings(): { logger: ReturnType<typeof createLogger>; lines: string[] } {
  const lines: string[] = [];
  const logger = createLogger({
    level: "warn",
    destination: { write: (line: string) => lines.push((JSON.parse(line) as { msg: string }).msg) },
  });
  return { logger, lines };
}

const kernelError = (message: string) => new SanpathError("internal", message, { reason: "DRIVER_FAILED" });

describe("TgtConnectionCloser destroying tgtd's sockets (SOCK_DESTROY)", () => {
  // One initiator (198.51.100.9) logged in through both portals, another through this one only, and
  // a socket of tgtd's namespace that is not at the portal.
  const SOCKETS = [
    socket(PORTAL, "198.51.100.9", 40000),
    socket(OTHER, "198.51.100.9", 40001),
    socket(PORTAL, "198.51.100.8", 40002),
    socket({ ip: "198.51.100.50", port: 22 }, "198.51.100.9", 40003),
  ];
  const AT_PORTAL = [SOCKETS[0], SOCKETS[2]];

  it("destroys exactly the sockets at the portal, whoever has sockets elsewhere: no request to tgtd, no ss", async () => {
    const { tgtadm, calls } = recordingTgtadm();
    const runner = new RecordingRunner();
    const { destroySockets, asked } = recordingDestroyer();
    const closer = new TgtConnectionCloser({
      tgtadm,
      runner,
      timeoutMs: 1000,
      tcpConnections: () => Promise.resolve(SOCKETS),
      destroySockets,
    });
    await closer.closeAtPortal(target, PORTAL, [OTHER], {});
    expect(asked).toEqual([AT_PORTAL]);
    expect(calls).toEqual([]);
    expect(runner.commands()).toEqual([]);
  });

  it("destroys nothing when no socket is at the portal", async () => {
    const { tgtadm, calls } = recordingTgtadm();
    const { destroySockets, asked } = recordingDestroyer();
    const closer = new TgtConnectionCloser({
      tgtadm,
      runner: new RecordingRunner(),
      timeoutMs: 1000,
      tcpConnections: () => Promise.resolve([SOCKETS[1] as TcpConnection]),
      destroySockets,
    });
    await closer.closeAtPortal(target, PORTAL, [OTHER], {});
    expect(asked).toEqual([]);
    expect(calls).toEqual([]);
  });

  it("on EOPNOTSUPP falls back to tgtd (and ss -K) from then on, logged once", async () => {
    const { tgtadm, calls } = recordingTgtadm();
    const runner = new RecordingRunner().when(/^ss -K /, {
      stdout: "ESTAB 0 0 198.51.100.50:3260 198.51.100.9:40000\n",
    });
    const { logger, lines } = warnings();
    const { destroySockets, asked } = recordingDestroyer(() => ({
      kind: "unsupported",
      error: kernelError("the kernel cannot destroy sockets"),
    }));
    const closer = new TgtConnectionCloser({
      tgtadm,
      runner,
      timeoutMs: 1000,
      tcpConnections: () => Promise.resolve(SOCKETS),
      destroySockets,
      logger,
    });
    await closer.closeAtPortal(target, PORTAL, [OTHER], {});
    await closer.closeAtPortal(target, PORTAL, [OTHER], {});
    expect(asked).toHaveLength(1);
    // Today's way, twice: 198.51.100.9 has sockets at both portals, so ss -K decides.
    expect(calls).toEqual(["tgtadm --op show --mode conn --tid 1", "tgtadm --op show --mode conn --tid 1"]);
    expect(runner.commands()).toEqual([
      "ss -K -tnH state connected src 198.51.100.50:3260",
      "ss -K -tnH state connected src 198.51.100.50:3260",
    ]);
    expect(lines.filter((line) => line.includes("cannot destroy sockets"))).toHaveLength(1);
    expect(closer.portalOnlyUnsupported).toBe(false);
  });

  it("falls back to tgtd this time only when the call fails or a socket is refused", async () => {
    for (const answer of [
      new Error("net tcp_destroy failed in deadline"),
      { kind: "refused" as const, error: kernelError("not permitted") },
    ]) {
      const { tgtadm, calls } = recordingTgtadm();
      const { destroySockets, asked } = recordingDestroyer(() => answer);
      const closer = new TgtConnectionCloser({
        tgtadm,
        runner: new RecordingRunner(),
        timeoutMs: 1000,
        tcpConnections: () =>
          Promise.resolve([socket(PORTAL, "198.51.100.8", 40002), socket(OTHER, "198.51.100.9", 40001)]),
        destroySockets,
      });
      await closer.closeAtPortal(target, PORTAL, [OTHER], {});
      expect(calls).toEqual(["tgtadm --op show --mode conn --tid 1", close(5, 1)]);
      calls.length = 0;
      await closer.closeAtPortal(target, PORTAL, [OTHER], {});
      expect(asked).toHaveLength(2);
    }
  });

  it("a socket the kernel did not find is fine once tgtd no longer has it", async () => {
    const { tgtadm, calls } = recordingTgtadm();
    let reads = 0;
    const { destroySockets } = recordingDestroyer((asked) =>
      asked.remote.port === 40000 ? { kind: "gone" } : { kind: "destroyed" },
    );
    const closer = new TgtConnectionCloser({
      tgtadm,
      runner: new RecordingRunner(),
      timeoutMs: 1000,
      tcpConnections: () => Promise.resolve(reads++ === 0 ? SOCKETS : [SOCKETS[1] as TcpConnection]),
      destroySockets,
    });
    await closer.closeAtPortal(target, PORTAL, [OTHER], {});
    expect(reads).toBe(2);
    expect(calls).toEqual([]);
  });

  it("a socket the kernel did not find while tgtd still has it (the addon in another namespace): through tgtd", async () => {
    const { tgtadm, calls } = recordingTgtadm();
    const runner = new RecordingRunner().when(/^ss -K /, {
      stdout: "ESTAB 0 0 198.51.100.50:3260 198.51.100.9:40000\n",
    });
    const { logger, lines } = warnings();
    const { destroySockets } = recordingDestroyer(() => ({ kind: "gone" }));
    const closer = new TgtConnectionCloser({
      tgtadm,
      runner,
      timeoutMs: 1000,
      tcpConnections: () => Promise.resolve(SOCKETS),
      destroySockets,
      logger,
    });
    await closer.closeAtPortal(target, PORTAL, [OTHER], {});
    expect(calls).toEqual(["tgtadm --op show --mode conn --tid 1"]);
    expect(runner.commands()).toEqual(["ss -K -tnH state connected src 198.51.100.50:3260"]);
    expect(lines.some((line) => line.includes("did not find sockets that tgtd still has"))).toBe(true);
  });

  it("closeAll goes through tgtd as before", async () => {
    const { tgtadm, calls } = recordingTgtadm();
    const { destroySockets, asked } = recordingDestroyer();
    const closer = new TgtConnectionCloser({
      tgtadm,
      runner: new RecordingRunner(),
      timeoutMs: 1000,
      tcpConnections: () => Promise.resolve(SOCKETS),
      destroySockets,
    });
    await closer.closeAll(target, {});
    expect(asked).toEqual([]);
    expect(calls).toEqual(["tgtadm --op show --mode conn --tid 1", close(3, 0), close(4, 0), close(5, 1)]);
  });
});
