/**
 * The dev cluster's Ceph: one mon and one memstore OSD in the Ceph namespace on the management
 * bridge, cephx on, a pool initialised for RBD. The same settings as the test harness
 * (test/harness/ceph.ts, which ties its daemons to the test process); here the daemons are
 * detached, so the cluster outlives the command that made it, and stopped by their recorded PIDs.
 */
import { randomUUID } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { cephxSecret, throwawayCephConf } from "../ceph/throwaway-conf.js";
import type { CommandRunner } from "../exec/command-runner.js";
import { spawnDetached, stopProcess, type ProcessRecord } from "./detached-process.js";

export interface CephFiles {
  readonly dir: string;
  /** ceph.conf for every client (sanpathd, tgtd, rbd): mon_host, keyring. */
  readonly confPath: string;
  readonly keyringPath: string;
}

export interface CephDaemons {
  readonly mon: ProcessRecord;
  readonly osd: ProcessRecord;
}

export function cephFiles(dir: string): CephFiles {
  return { dir, confPath: join(dir, "ceph.conf"), keyringPath: join(dir, "client.admin.keyring") };
}

/**
 * Creates and starts Ceph in the namespace `runner` runs in, bound to `ip` (mon on 3300/6789).
 * `onStarted` records each daemon as soon as it runs, so a failure later still stops it.
 */
export async function startCeph(options: {
  files: CephFiles;
  runner: CommandRunner;
  netns: string;
  ip: string;
  pool: string;
  signal: AbortSignal;
  onStarted: (daemon: ProcessRecord) => void;
}): Promise<CephDaemons> {
  const { files, runner, ip, signal } = options;
  const monHost = `[v2:${ip}:3300,v1:${ip}:6789]`;
  const paths = {
    monKeyring: join(files.dir, "mon.keyring"),
    monmap: join(files.dir, "monmap"),
    monData: join(files.dir, "mon-a"),
    osdData: join(files.dir, "osd-0"),
    osdSecret: join(files.dir, "osd-secret.json"),
    run: join(files.dir, "run"),
    log: join(files.dir, "log"),
  };
  for (const folder of [paths.monData, paths.osdData, paths.run, paths.log])
    mkdirSync(folder, { recursive: true });

  const fsid = randomUUID();
  const adminKey = cephxSecret();
  writeFileSync(
    files.confPath,
    throwawayCephConf({
      fsid,
      monHost,
      ip,
      monData: paths.monData,
      osdData: paths.osdData,
      run: paths.run,
      log: paths.log,
      adminKeyring: files.keyringPath,
      clientMountTimeoutSec: 10,
      // Memstore keeps everything in RAM: a few hundred small test images fit in this.
      memstoreDeviceBytes: 4294967296,
    }),
  );
  const adminEntry = `[client.admin]\n\tkey = ${adminKey}\n\tcaps mon = "allow *"\n\tcaps osd = "allow *"\n\tcaps mgr = "allow *"\n`;
  writeFileSync(files.keyringPath, adminEntry, { mode: 0o600 });
  writeFileSync(paths.monKeyring, `[mon.]\n\tkey = ${cephxSecret()}\n\tcaps mon = "allow *"\n${adminEntry}`, {
    mode: 0o600,
  });

  const run = async (file: string, args: readonly string[], timeoutMs = 30_000): Promise<string> =>
    (await runner.run(file, args, { timeoutMs, signal })).stdout;
  const ceph = (args: readonly string[]): Promise<string> => run("ceph", ["--conf", files.confPath, ...args]);

  await run("monmaptool", ["--create", "--addv", "a", monHost, "--fsid", fsid, paths.monmap]);
  await run("ceph-mon", [
    "--conf",
    files.confPath,
    "--mkfs",
    "-i",
    "a",
    "--monmap",
    paths.monmap,
    "--keyring",
    paths.monKeyring,
  ]);
  const mon = spawnDetached({
    netns: options.netns,
    file: "ceph-mon",
    args: ["--conf", files.confPath, "-i", "a", "-f"],
    logFile: join(paths.log, "mon.a.stdout"),
    label: "ceph-mon",
  });
  options.onStarted(mon);

  const osdUuid = randomUUID();
  const osdKey = cephxSecret();
  writeFileSync(paths.osdSecret, JSON.stringify({ cephx_secret: osdKey }), { mode: 0o600 });
  const osdId = (await ceph(["osd", "new", osdUuid, "-i", paths.osdSecret])).trim();
  if (osdId !== "0") throw new Error(`expected the first OSD to get id 0, got "${osdId}"`);
  writeFileSync(join(paths.osdData, "keyring"), `[osd.0]\n\tkey = ${osdKey}\n`, { mode: 0o600 });
  await run("ceph-osd", ["--conf", files.confPath, "-i", "0", "--mkfs", "--osd-uuid", osdUuid]);
  const osd = spawnDetached({
    netns: options.netns,
    file: "ceph-osd",
    args: ["--conf", files.confPath, "-i", "0", "-f"],
    logFile: join(paths.log, "osd.0.stdout"),
    label: "ceph-osd",
  });
  options.onStarted(osd);

  await ceph(["osd", "pool", "create", options.pool, "32"]);
  // Blocks until the pool's placement groups are active, i.e. the OSD is up and serving.
  await run("rbd", ["--conf", files.confPath, "pool", "init", options.pool], 60_000);
  return { mon, osd };
}

/** Stops the OSD, then the mon (a mon that is gone leaves the OSD waiting). */
export async function stopCeph(daemons: { mon?: ProcessRecord; osd?: ProcessRecord }): Promise<void> {
  if (daemons.osd !== undefined) await stopProcess(daemons.osd, { signal: "SIGKILL" });
  if (daemons.mon !== undefined) await stopProcess(daemons.mon, { signal: "SIGKILL" });
}
