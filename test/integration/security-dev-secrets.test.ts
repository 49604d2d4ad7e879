/**
 * `sanpathd --dev` with auth on (its default outside tests): it makes an admin token, prints it
 * once on its banner and never logs it; the CLI works with it and without it is refused. CHAP
 * secrets and tokens never show in the daemon's log (debug level, audit lines included), in any
 * answer or error, in the CLI's output, or in a Consul value.
 */
import { readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";
import { credentials, type Client } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConsulClient } from "../../src/consul/consul-client.js";
import { runSanpathCli, startSanpathd, type SanpathdProcess } from "../harness/sanpathd.js";
import { contractMethods, GATE_REFUSALS, rawCall, rawClient } from "./security-support.js";

const SECRET = "Dev-chap-7Hq2xZ"; // 15 characters
const NEW_SECRET = "Dev-chap-new-4k"; // 15 characters
const SHORT_SECRET = "Tiny-9sec"; // too short: refused, and must not be echoed

describe("sanpathd --dev with auth on, and secrets", () => {
  let daemon: SanpathdProcess;
  let client: Client;
  let adminToken = "";
  let nodeToken = "";
  const outputs: string[] = [];

  async function cli(args: string[], env: Record<string, string> = {}) {
    const result = await runSanpathCli(["--server", daemon.address, ...args], env);
    outputs.push(result.stdout, result.stderr);
    return result;
  }
  const asAdmin = (extra: Record<string, string> = {}) => ({ SANPATH_TOKEN: adminToken, ...extra });

  beforeAll(async () => {
    daemon = await startSanpathd({
      name: "security-dev",
      dev: true,
      env: { SANPATH_AUTH_MODE: "required", SANPATH_LOG_LEVEL: "debug" },
    });
    client = rawClient(daemon.address, credentials.createInsecure());
    // The banner follows start-up; health may say SERVING a moment before it is written.
    for (let tries = 0; tries < 100 && adminToken === ""; tries++) {
      adminToken = /export SANPATH_TOKEN=(spt_[A-Za-z0-9_-]+)/.exec(daemon.stderr())?.[1] ?? "";
      if (adminToken === "") await sleep(50);
    }
    const written = daemon
      .logLines()
      .find((line) => line.msg === "dev admin token written (printed on stderr)");
    const adminTokenFile = String(written?.adminTokenFile);
    nodeToken = readFileSync(adminTokenFile.replace(/admin\.token$/, "node.token"), "utf8").trim();
  });

  afterAll(async () => {
    client.close();
    await daemon.stop();
  });

  it("prints a generated admin token once on the banner, and logs only where its file is", () => {
    expect(adminToken).toMatch(/^spt_[A-Za-z0-9_-]{43}$/);
    expect(daemon.stderr()).toContain("Auth: on. Admin token (shown once;");
    expect(daemon.stdout()).not.toContain(adminToken);
    expect(daemon.logLines().find((line) => line.msg === "authentication on")).toMatchObject({
      authMode: "required",
      tokens: 2,
    });
  });

  it("refuses the CLI without the token, takes it from $SANPATH_TOKEN", async () => {
    const refused = await cli(["disk", "list"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("UNAUTHENTICATED");
    const listed = await cli(["disk", "list"], asAdmin());
    expect(listed.code).toBe(0);
    expect((await cli(["health"])).code).toBe(0);
  });

  it("its node token makes it a cluster member of its own NodeService, and the admin is not one", async () => {
    const acquire = contractMethods().find((method) => method.path.endsWith("/AcquirePath"));
    const listDisks = contractMethods().find((method) => method.path.endsWith("/ListDisks"));
    if (acquire === undefined || listDisks === undefined) throw new Error("contract changed");
    expect(GATE_REFUSALS).not.toContain((await rawCall(client, acquire, undefined, nodeToken)).code);
    expect((await rawCall(client, acquire, undefined, adminToken)).code).toBe("PERMISSION_DENIED");
    expect((await rawCall(client, listDisks, undefined, nodeToken)).code).toBe("PERMISSION_DENIED");
  });

  it("never shows a CHAP secret or a token in answers, errors, CLI output, logs or Consul", async () => {
    const added = await cli(
      ["disk", "add", "vault", "--size", "1G", "--chap-user", "vaultuser"],
      asAdmin({
        SANPATH_CHAP_SECRET: SECRET,
      }),
    );
    expect(added.code).toBe(0);
    expect(added.stdout).toContain("vaultuser");
    const edited = await cli(
      ["disk", "edit", "vault", "--chap-user", "vaultuser"],
      asAdmin({
        SANPATH_CHAP_SECRET: NEW_SECRET,
      }),
    );
    expect(edited.code).toBe(0);
    const tooShort = await cli(
      ["disk", "add", "short", "--size", "1G", "--chap-user", "u2"],
      asAdmin({
        SANPATH_CHAP_SECRET: SHORT_SECRET,
      }),
    );
    expect(tooShort.code).toBe(1);
    expect(tooShort.stderr).toContain("INVALID_ARGUMENT");
    const badToken = await cli(["disk", "list"], { SANPATH_TOKEN: `${adminToken}x` });
    expect(badToken.code).toBe(1);
    for (const args of [
      ["disk", "show", "vault"],
      ["--output", "json", "disk", "show", "vault"],
      ["--output", "json", "disk", "list"],
      ["disk", "list"],
      ["cluster", "info"],
    ]) {
      expect((await cli(args, asAdmin())).code).toBe(0);
    }
    // A raw GetDisk answer, bytes and all.
    const getDisk = contractMethods().find((method) => method.path.endsWith("/GetDisk"));
    if (getDisk === undefined) throw new Error("contract changed");
    const raw = await rawCall(
      client,
      getDisk,
      Buffer.from([0x0a, 0x05, ...Buffer.from("vault")]),
      adminToken,
    );
    expect(raw.code).toBe("OK");
    outputs.push(raw.responses.map((bytes) => bytes.toString("latin1")).join(""));

    const started = daemon.logLines().find((line) => line.msg === "consul dev agent started");
    const consul = new ConsulClient({ address: String(started?.consulAddress) });
    try {
      const values = (await consul.list("")).map((entry) => `${entry.key}=${entry.value}`).join("\n");
      expect(values).toContain("PetaSAN/Disks/00001");
      outputs.push(values);
    } finally {
      consul.close();
    }
    // The audit lines (no audit.file: they are in the daemon log) name the caller.
    const audit = daemon.logLines().filter((line) => line.msg === "audit");
    expect(audit.some((line) => JSON.stringify(line).includes('"name":"dev-admin"'))).toBe(true);

    const everything = [...outputs, daemon.stdout()].join("\n");
    for (const secret of [SECRET, NEW_SECRET, SHORT_SECRET, adminToken, nodeToken]) {
      expect(everything.includes(secret), `found a secret in answers, outputs, logs or Consul`).toBe(false);
    }
    expect(daemon.stdout()).toContain('"secret":"[redacted]"');
  });
});
