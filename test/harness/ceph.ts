/**
 * A throw-away Ceph cluster for tests and benchmarks: one mon, one memstore OSD, no mgr, cephx on,
 * a replicated pool (default `rbd`) initialised for RBD, made by the dev cluster's steps
 * (src/devcluster/ceph-bootstrap.ts) with daemons that are children of the test process.
 * Everything lives in one temp dir; stop() stops the OSD, then the mon, by PID, and deletes the dir.
 *
 * Two placements:
 *   - loopback (default): daemons on 127.0.0.1 in the root namespace, on free ports, reachable from
 *     the test process (e.g. by the rbd addon);
 *   - `netns: { name, ip }`: daemons run with `ip netns exec <name>` bound to `ip` on the default
 *     ports 3300 (msgr2) and 6789 (msgr1). The caller creates the namespace, brings `lo` (and the
 *     interface carrying `ip`) up and deletes it afterwards.
 *
 *   const ceph = await startCephHarness({ name: "my-test" });
 *   ... connectRbd({ confPath: ceph.confPath }) ...
 *   await ceph.stop();
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { execa } from "execa";
import { bootstrapCeph } from "../../src/devcluster/ceph-bootstrap.js";
import { freePorts } from "../../src/util/free-port.js";

export interface CephHarnessOptions {
  /** Goes into the temp dir's name; default "ceph". */
  name?: string;
  /** Run the daemons inside this existing namespace, bound to `ip` (which must be up in it). */
  netns?: { name: string; ip: string };
  /** Pool created and initialised with `rbd pool init`; default "rbd". */
  pool?: string;
  /** Budget for the whole start-up; default 60 s. */
  startTimeoutMs?: number;
  /** `client_mount_timeout` written to the conf for clients, in seconds; default 5. */
  clientMountTimeoutSec?: number;
}

export interface CephHarness {
  /** ceph.conf for clients (and the daemons): mon_host, keyring, admin_socket empty for clients. */
  readonly confPath: string;
  /** The client.admin keyring. */
  readonly keyringPath: string;
  /** client.admin's cephx secret (base64). */
  readonly adminKey: string;
  /** "ip:port" of the mon's msgr2 address. */
  readonly monAddress: string;
  /** The mon_host value: "[v2:ip:port,v1:ip:port]". */
  readonly monHost: string;
  readonly pool: string;
  /** The namespace the daemons run in; undefined in loopback mode. */
  readonly netns: string | undefined;
  readonly dir: string;
  readonly monPid: number;
  readonly osdPid: number;
  /** Runs the `ceph`, `rbd` or `rados` CLI against this cluster (inside its namespace) and returns stdout. */
  cli(
    command: "ceph" | "rbd" | "rados",
    args: readonly string[],
    options?: { timeoutMs?: number },
  ): Promise<string>;
  /** Stops the OSD, then the mon, by PID, and deletes the dir. Idempotent. */
  stop(): Promise<void>;
}

const DAEMON_STOP_GRACE_MS = 10_000;

interface Daemon {
  pid: number;
  exited: Promise<unknown>;
  hasExited(): boolean;
}

export async function startCephHarness(options: CephHarnessOptions = {}): Promise<CephHarness> {
  const name = options.name ?? "ceph";
  const pool = options.pool ?? "rbd";
  const netns = options.netns;
  const ip = netns?.ip ?? "127.0.0.1";
  const [v2Port, v1Port] = netns === undefined ? await freePorts(2, ip) : [3300, 6789];
  if (v2Port === undefined || v1Port === undefined) throw new Error("no free ports for the Ceph mon");
  const monHost = `[v2:${ip}:${v2Port},v1:${ip}:${v1Port}]`;
  const monAddress = `${ip}:${v2Port}`;

  const dir = mkdtempSync(join(tmpdir(), `sanpath-${name}-${process.pid}-`));
  const paths = {
    conf: join(dir, "ceph.conf"),
    adminKeyring: join(dir, "client.admin.keyring"),
  };
  const clientMountTimeoutSec = options.clientMountTimeoutSec ?? 5;

  const lifetime = new AbortController();
  const deadline = AbortSignal.timeout(options.startTimeoutMs ?? 60_000);
  const startSignal = AbortSignal.any([lifetime.signal, deadline]);
  const inNamespace = (file: string, args: readonly string[]): [string, string[]] =>
    netns === undefined ? [file, [...args]] : ["ip", ["netns", "exec", netns.name, file, ...args]];

  const run = async (
    file: string,
    args: readonly string[],
    signal: AbortSignal,
    timeoutMs = 30_000,
  ): Promise<string> => {
    const [command, commandArgs] = inNamespace(file, args);
    const result = await execa(command, commandArgs, {
      timeout: timeoutMs,
      cancelSignal: signal,
      forceKillAfterDelay: 2000,
      stdin: "ignore",
    });
    return result.stdout;
  };

  const daemons: Daemon[] = [];
  const spawnDaemon = (file: string, args: readonly string[], logPath: string): Daemon => {
    const [command, commandArgs] = inNamespace(file, args);
    const logFile = { file: logPath, append: true };
    // A daemon has no timeout: it lives until stop() (or the harness's lifetime signal) ends it.
    const subprocess = execa(command, commandArgs, {
      stdin: "ignore",
      stdout: logFile,
      stderr: logFile,
      reject: false,
      cancelSignal: lifetime.signal,
      forceKillAfterDelay: DAEMON_STOP_GRACE_MS,
    });
    const pid = subprocess.pid;
    if (pid === undefined) throw new Error(`${file} did not start (no pid)`);
    let exited = false;
    const exitedPromise = subprocess.then(() => {
      exited = true;
    });
    const daemon: Daemon = { pid, exited: exitedPromise, hasExited: () => exited };
    daemons.push(daemon);
    return daemon;
  };

  const stopDaemon = async (daemon: Daemon): Promise<void> => {
    if (daemon.hasExited()) return;
    process.kill(daemon.pid, "SIGTERM");
    const outcome = await Promise.race([
      daemon.exited.then(() => "exited" as const),
      sleep(DAEMON_STOP_GRACE_MS).then(() => "timeout" as const),
    ]);
    if (outcome === "timeout" && !daemon.hasExited()) {
      process.kill(daemon.pid, "SIGKILL");
      await daemon.exited;
    }
  };

  // If the test process dies without stop(), take the daemons down with it.
  const killOnExit = (): void => {
    for (const daemon of daemons) {
      if (!daemon.hasExited()) {
        try {
          process.kill(daemon.pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
    }
    rmSync(dir, { recursive: true, force: true });
  };
  process.once("exit", killOnExit);

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopped ??= (async () => {
      process.removeListener("exit", killOnExit);
      // Stop the OSD first: a mon that is gone leaves it waiting.
      for (const daemon of [...daemons].reverse()) await stopDaemon(daemon);
      lifetime.abort();
      rmSync(dir, { recursive: true, force: true });
    })();
    return stopped;
  };

  try {
    const { mon, osd, adminKey } = await bootstrapCeph({
      dir,
      confPath: paths.conf,
      keyringPath: paths.adminKeyring,
      ip,
      ports: { v2: v2Port, v1: v1Port },
      pool,
      pgCount: 8,
      clientMountTimeoutSec,
      poolInitTimeoutMs: 30_000,
      run: (file, args, timeoutMs) => run(file, args, startSignal, timeoutMs),
      spawn: (file, args, logFile) => spawnDaemon(file, args, logFile),
    });

    return {
      confPath: paths.conf,
      keyringPath: paths.adminKeyring,
      adminKey,
      monAddress,
      monHost,
      pool,
      netns: netns?.name,
      dir,
      monPid: mon.pid,
      osdPid: osd.pid,
      cli: (command, args, cliOptions) =>
        run(command, ["--conf", paths.conf, ...args], lifetime.signal, cliOptions?.timeoutMs ?? 30_000),
      stop,
    };
  } catch (error) {
    await stop();
    throw new Error(`the throw-away Ceph cluster did not start (${name})`, { cause: error });
  }
}
