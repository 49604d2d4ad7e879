/**
 * A real tgtd for a test, inside a host of a network namespace topology:
 *
 *   const tgtd = await startTgtd(topology, "a");
 *   const driver = tgtd.driver();               // a TgtDriver bound to this tgtd
 *   ...
 *   await tgtd.stop();                           // in afterAll / finally
 *
 * tgtd runs in the foreground (`-f`) with a control port of its own (`-C N`): the control socket
 * /var/run/tgtd/socket.N is a file shared by all namespaces, so N is picked at random among the
 * unused ones. tgtd ignores SIGTERM; stop() deletes every target (--force), then
 * `tgtadm --op delete --mode system` (tgtd exits), then SIGKILL by PID if it is still there.
 */
import { rmSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { CommandRunner } from "../../src/exec/command-runner.js";
import { TgtDriver, type TgtDriverOptions } from "../../src/iscsi/tgt-driver.js";
import { parseTgtTargets } from "../../src/iscsi/tgt-show.js";
import type { DaemonHandle } from "../../src/netns/daemon.js";
import type { Topology } from "../../src/netns/topology.js";
import {
  removeTgtdSocket,
  unusedTgtControlPort,
  waitForTgtdAnswer,
} from "../../src/devcluster/tgtd-daemon.js";

export interface TgtdHarness {
  readonly host: string;
  readonly controlPort: number;
  /** The tgtd now running (a new one after killAndRestart). */
  readonly pid: number;
  readonly daemon: DaemonHandle;
  /** Runs commands in the host's namespace. */
  readonly runner: CommandRunner;
  /** tgtd's log (stdout and stderr). */
  readonly logFile: string;
  /** A TgtDriver for this tgtd (its sockets destroyed in the host's namespace); `stateFile` etc. may be added. */
  driver(options?: Omit<TgtDriverOptions, "runner" | "controlPort" | "netns">): TgtDriver;
  /** `tgtadm -C N --lld iscsi args...`, returns stdout. */
  tgtadm(args: readonly string[]): Promise<string>;
  /**
   * `kill -9` of tgtd, then a new tgtd on the same control port once `downMs` have passed (what
   * systemd's Restart=always does): it starts empty, with no target, portal or account.
   */
  killAndRestart(downMs?: number): Promise<void>;
  /** `kill -9` of tgtd; it stays dead until start(). */
  kill(): Promise<void>;
  /** A new tgtd on the same control port (after kill()), empty; resolves once it answers. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function startTgtd(topology: Topology, host: string): Promise<TgtdHarness> {
  const dir = mkdtempSync(join(tmpdir(), `sanpath-tgtd-${host}-`));
  const logFile = join(dir, "tgtd.log");
  const runner = topology.runner(host);
  let lastProblem = "";
  for (let attempt = 0; attempt < 4; attempt += 1) {
    const controlPort = unusedTgtControlPort();
    const daemon = topology.spawnIn(host, "tgtd", ["-f", "-C", String(controlPort)], { logFile });
    const tgtadm = async (args: readonly string[]): Promise<string> =>
      (
        await runner.run("tgtadm", ["-C", String(controlPort), "--lld", "iscsi", ...args], {
          timeoutMs: 10_000,
        })
      ).stdout;
    const failed = await waitForTgtdAnswer({ running: () => daemon.isRunning(), runner, controlPort });
    if (failed !== undefined) {
      lastProblem = failed.exited
        ? `tgtd exited (${failed.problem})`
        : `no answer after 10 s: ${failed.problem}`;
      await daemon.stop({ signal: "SIGKILL" });
      removeTgtdSocket(controlPort);
      continue;
    }
    let stopping: Promise<void> | undefined;
    let current = daemon;
    const harness: TgtdHarness = {
      host,
      controlPort,
      get pid() {
        return current.pid;
      },
      get daemon() {
        return current;
      },
      runner,
      logFile,
      driver: (options = {}) =>
        new TgtDriver({ ...options, runner, controlPort, netns: topology.nsName(host) }),
      tgtadm,
      async killAndRestart(downMs = 1000) {
        await harness.kill();
        await sleep(downMs);
        await harness.start();
      },
      async kill() {
        await current.stop({ signal: "SIGKILL" });
        removeTgtdSocket(controlPort);
      },
      async start() {
        current = topology.spawnIn(host, "tgtd", ["-f", "-C", String(controlPort)], { logFile });
        const next = current;
        const failed = await waitForTgtdAnswer({ running: () => next.isRunning(), runner, controlPort });
        if (failed !== undefined) throw new Error(`tgtd did not come back: ${failed.problem}`);
      },
      stop() {
        stopping ??= stopTgtd(current, tgtadm, controlPort, dir);
        return stopping;
      },
    };
    return harness;
  }
  rmSync(dir, { recursive: true, force: true });
  throw new Error(`tgtd did not start in ${topology.nsName(host)}: ${lastProblem}`);
}

async function stopTgtd(
  daemon: DaemonHandle,
  tgtadm: (args: readonly string[]) => Promise<string>,
  controlPort: number,
  dir: string,
): Promise<void> {
  try {
    if (daemon.isRunning()) {
      for (const target of parseTgtTargets(await tgtadm(["--op", "show", "--mode", "target"]))) {
        await tgtadm(["--op", "delete", "--force", "--mode", "target", "--tid", String(target.tid)]);
      }
      await tgtadm(["--op", "delete", "--mode", "system"]);
    }
  } catch {
    // Whatever went wrong above, the PID is stopped below.
  } finally {
    // After `delete --mode system` tgtd exits by itself; SIGKILL only if it has not.
    await Promise.race([daemon.exited, sleep(2000)]);
    await daemon.stop({ signal: "SIGKILL" }).catch(() => undefined);
    removeTgtdSocket(controlPort);
    rmSync(dir, { recursive: true, force: true });
  }
}
