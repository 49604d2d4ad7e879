/**
 * `sanpath disk …` and `sanpath cluster init|show` against `sanpathd --dev` (its own Consul agent,
 * sample settings stored at start, file image store): a fresh dev node takes a disk at once.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runSanpathCli, startSanpathd, type SanpathdProcess } from "../harness/sanpathd.js";

const SECRET = "Cli-secret-4711"; // 15 characters

describe("sanpath disk and cluster commands against sanpathd --dev", () => {
  let daemon: SanpathdProcess;
  let dir: string;
  const cli = (args: string[], env: Record<string, string> = {}) =>
    runSanpathCli(["--server", daemon.address, ...args], env);

  beforeAll(async () => {
    daemon = await startSanpathd({ name: "disk-cli", dev: true });
    dir = mkdtempSync(join(tmpdir(), `sanpath-disk-cli-${process.pid}-`));
  });
  afterAll(async () => {
    await daemon.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("adds, lists, shows, edits, stops and deletes a disk; JSON for scripts; secrets never printed", async () => {
    const shown = await cli(["cluster", "show"]);
    expect(shown.code).toBe(0);
    expect(shown.stdout).toMatch(/iSCSI subnet 1:\s+198\.51\.100\.0\/24 on eth1/);

    const added = await cli(["disk", "add", "demo", "--size", "10G"]);
    expect(added.stderr).toBe("");
    expect(added.code).toBe(0);
    expect(added.stdout).toMatch(/^ID:\s+00001$/m);
    expect(added.stdout).toMatch(/^Size:\s+10G \(10 GiB\)$/m);
    expect(added.stdout).toMatch(/^\s+1\s+198\.51\.100\.10\/24\s+eth1\s+1\s+-$/m);

    const secretFile = join(dir, "chap.secret");
    writeFileSync(secretFile, `${SECRET}\n`, { mode: 0o600 });
    const chap = await cli([
      "disk",
      "add",
      "Vault Disk",
      "--size",
      "1.5T",
      "--paths",
      "2",
      "--subnet",
      "both",
      "--chap-user",
      "vault",
      "--chap-secret-file",
      secretFile,
      "--acl",
      "iqn.1993-08.org.debian:01:abc",
      "--output",
      "json",
    ]);
    expect(chap.code).toBe(0);
    const disk = JSON.parse(chap.stdout) as {
      id: string;
      sizeGib: number;
      chapEnabled: boolean;
      chapUser: string;
      paths: { ip: string }[];
    };
    expect(disk).toMatchObject({ id: "00002", sizeGib: 1536, chapEnabled: true, chapUser: "vault" });
    expect(disk.paths.map((path) => path.ip)).toEqual(["198.51.100.12", "203.0.113.12"]);

    const listed = await cli(["disk", "list"]);
    expect(listed.stdout.split("\n")[0]).toMatch(/^ID\s+NAME\s+SIZE\s+STATUS\s+PATHS\s+POOL$/);
    expect(listed.stdout).toMatch(
      /^00002\s+Vault Disk\s+1536G\s+starting\s+198\.51\.100\.12, 203\.0\.113\.12\s+rbd$/m,
    );
    const filtered = await cli(["disk", "list", "--name", "VAULT", "--output", "json"]);
    expect((JSON.parse(filtered.stdout) as { disks: { id: string }[] }).disks.map((d) => d.id)).toEqual([
      "00002",
    ]);

    const edited = await cli(["disk", "edit", "vault disk", "--size", "2T", "--chap-user", "vault2"], {
      SANPATH_CHAP_SECRET: `${SECRET}x`,
    });
    expect(edited.code).toBe(0);
    expect(edited.stdout).toMatch(/^CHAP:\s+one-way, user vault2 \(secret set\)$/m);
    expect(edited.stdout).toMatch(/^Size:\s+2T \(2048 GiB\)$/m);

    const shrink = await cli(["disk", "edit", "00002", "--size", "1T"]);
    expect(shrink.code).toBe(1);
    expect(shrink.stderr).toContain("reason: SHRINK_REFUSED");
    expect(shrink.stderr).toContain("field:  size_gib");

    const running = await cli(["disk", "delete", "demo", "--yes"]);
    expect(running.code).toBe(1);
    expect(running.stderr).toContain("reason: DISK_NOT_STOPPED");
    expect((await cli(["disk", "stop", "demo"])).stdout).toMatch(/^Status:\s+stopped$/m);
    const unconfirmed = await cli(["disk", "delete", "demo"]);
    expect(unconfirmed.code).toBe(2);
    expect(unconfirmed.stderr).toContain("--yes");
    const deleted = await cli(["disk", "delete", "demo", "--yes"]);
    expect(deleted.stdout.trim()).toBe("deleted disk 00001");

    for (const output of [added, chap, listed, filtered, edited, shrink, running, deleted]) {
      expect(output.stdout + output.stderr).not.toContain(SECRET);
    }
    expect(daemon.stdout() + daemon.stderr()).not.toContain(SECRET);
  });

  it("refuses command-line mistakes with exit 2 before any call", async () => {
    const cases: [string[], RegExp][] = [
      [["disk", "add", "x", "--size", "10M"], /--size must be a size in GiB/],
      [["disk", "add", "x"], /--size/],
      [["disk", "add", "x", "--size", "1G", "--paths", "two"], /--paths must be a whole number/],
      [["disk", "add", "x", "--size", "1G", "--subnet", "3"], /--subnet/],
      [["disk", "add", "x", "--size", "1G", "--chap-user", "u"], /needs a secret/],
      [["disk", "edit", "x"], /nothing to change/],
      [["disk", "edit", "x", "--acl", "iqn.1993-08.org.debian:01:a", "--acl-all"], /not both/],
      [
        ["cluster", "init", "--iqn-base", "iqn.2016-05.org.x", "--subnet1", "198.51.100.0/24"],
        /--subnet1-range/,
      ],
      [
        [
          "cluster",
          "init",
          "--iqn-base",
          "iqn.2016-05.org.x",
          "--subnet1",
          "198.51.100.0/24",
          "--subnet1-range",
          "198.51.100.10",
          "--subnet1-interface",
          "eth1",
        ],
        /FROM-TO/,
      ],
    ];
    for (const [args, message] of cases) {
      const result = await cli(args);
      expect({ args, code: result.code }).toEqual({ args, code: 2 });
      expect(result.stderr).toMatch(message);
    }
  });

  it("stores cluster settings with init and refuses a bad field with its name", async () => {
    const base = [
      "cluster",
      "init",
      "--iqn-base",
      "iqn.2016-05.org.example",
      "--pool",
      "rbd",
      "--subnet1",
      "198.51.100.0/24",
      "--subnet1-range",
      "198.51.100.10-198.51.100.250",
      "--subnet1-interface",
      "eth1",
    ];
    const bad = await cli([
      ...base,
      "--subnet2",
      "203.0.113.0/24",
      "--subnet2-range",
      "203.0.113.10-203.0.114.5",
      "--subnet2-interface",
      "eth2",
    ]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain("field:  settings.subnet2.auto_ip_to");
    // Subnet 2 is in use by "Vault Disk": removing it is refused.
    const removal = await cli(base);
    expect(removal.code).toBe(1);
    expect(removal.stderr).toContain("reason: SUBNET_IN_USE");
    const kept = await cli([
      ...base,
      "--subnet2",
      "203.0.113.0/24",
      "--subnet2-range",
      "203.0.113.20-203.0.113.30",
      "--subnet2-interface",
      "eth2",
    ]);
    expect(kept.code).toBe(0);
    expect(kept.stdout).toMatch(
      /^iSCSI subnet 2:\s+203\.0\.113\.0\/24 on eth2, automatic 203\.0\.113\.20-203\.0\.113\.30$/m,
    );
    expect((await cli(["cluster", "show", "--output", "json"])).stdout).toContain(
      '"iqnBase": "iqn.2016-05.org.example"',
    );
  });

  it("documents the commands with examples", async () => {
    const help = await cli(["disk", "add", "--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("Examples:");
    expect(help.stdout).toContain("--chap-secret-file");
    expect((await cli(["disk", "--help"])).stdout).toMatch(/add.*\n.*list/s);
    expect((await cli(["cluster", "init", "--help"])).stdout).toContain("SUBNET_IN_USE");
  });
});
