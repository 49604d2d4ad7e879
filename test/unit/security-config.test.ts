import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { afterAll, describe, expect, it } from "vitest";
import { layerFromEnv, layerFromFileText, layerFromObject } from "../../src/config/config-layers.js";
import { ConfigError, defaultSettings, resolveConfig } from "../../src/config/load-config.js";
import type { SanpathdConfig } from "../../src/config/config.js";
import { createLogger } from "../../src/log/logger.js";
import { startDaemonSecurity } from "../../src/security/daemon-security.js";
import { formatTokenFile, generateToken, tokenEntry } from "../../src/security/token-file.js";

const productionDefaults = layerFromObject(defaultSettings(), { kind: "default" });
// As --dev does: plaintext by default, TLS material still wins.
const defaults = layerFromObject({ ...defaultSettings(), "tls.plaintext": true }, { kind: "default" });
const fromEnv = (env: Record<string, string>): SanpathdConfig => resolveConfig([defaults, layerFromEnv(env)]);
function problemsOf(action: () => unknown): string {
  try {
    action();
  } catch (error) {
    if (error instanceof ConfigError) return error.message;
    throw error;
  }
  throw new Error("expected a ConfigError");
}

const dir = mkdtempSync(join(tmpdir(), `sanpath-security-config-${process.pid}-`));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("security settings", () => {
  it("default to auth required, TLS required (plaintext only when asked for), audit in the daemon log", () => {
    expect(problemsOf(() => resolveConfig([productionDefaults]))).toBe(
      "config: tls.plaintext must be true when tls.ca, tls.cert and tls.key are unset: plaintext must be asked for " +
        "(tls.plaintext true, SANPATH_TLS_PLAINTEXT=true or --tls-plaintext); for TLS make certificates with " +
        "`sanpath cert` and set tls.ca, tls.cert and tls.key",
    );
    const config = resolveConfig([productionDefaults, layerFromEnv({ SANPATH_TLS_PLAINTEXT: "true" })]);
    expect(config.auth).toEqual({ mode: "required", tokenFile: undefined, nodeTokenFile: undefined });
    expect(config.tls).toBeUndefined();
    expect(config.audit).toEqual({ file: undefined });
    expect(
      problemsOf(() => resolveConfig([productionDefaults, layerFromEnv({ SANPATH_TLS_PLAINTEXT: "1" })])),
    ).toContain('config: tls.plaintext must be true or false (got "1" from SANPATH_TLS_PLAINTEXT)');
  });

  it("refuse an explicit tls.plaintext together with TLS material; a default plaintext gives way", () => {
    const tls = {
      SANPATH_TLS_CA: "/pki/ca.crt",
      SANPATH_TLS_CERT: "/pki/n.crt",
      SANPATH_TLS_KEY: "/pki/n.key",
    };
    expect(resolveConfig([defaults, layerFromEnv(tls)]).tls?.ca).toBe("/pki/ca.crt");
    const { layer } = layerFromFileText(JSON.stringify({ tls: { plaintext: true } }), "/etc/sanpath.json");
    expect(problemsOf(() => resolveConfig([productionDefaults, layer, layerFromEnv(tls)]))).toBe(
      "config: tls.plaintext must not be true when tls.ca, tls.cert or tls.key is set (TLS or plaintext, not both) " +
        "(got true from /etc/sanpath.json)",
    );
  });

  it("turn TLS on with ca, cert and key together; client certificates are required unless turned off", () => {
    const tls = {
      SANPATH_TLS_CA: "/pki/ca.crt",
      SANPATH_TLS_CERT: "/pki/n.crt",
      SANPATH_TLS_KEY: "/pki/n.key",
    };
    expect(fromEnv(tls).tls).toEqual({
      ca: "/pki/ca.crt",
      cert: "/pki/n.crt",
      key: "/pki/n.key",
      requireClientCert: true,
    });
    expect(fromEnv({ ...tls, SANPATH_TLS_REQUIRE_CLIENT_CERT: "false" }).tls?.requireClientCert).toBe(false);
    expect(problemsOf(() => fromEnv({ SANPATH_TLS_CA: "/pki/ca.crt" }))).toContain(
      "config: tls.cert must be set: tls.ca, tls.cert and tls.key go together",
    );
    expect(problemsOf(() => fromEnv({ ...tls, SANPATH_TLS_REQUIRE_CLIENT_CERT: "yes" }))).toContain(
      'config: tls.requireClientCert must be true or false (got "yes" from SANPATH_TLS_REQUIRE_CLIENT_CERT)',
    );
    expect(problemsOf(() => fromEnv({ ...tls, SANPATH_TLS_KEY: "relative.key" }))).toContain(
      "config: tls.key must be an absolute path",
    );
  });

  it("take booleans as JSON in the file, and refuse an unknown auth mode", () => {
    const { layer } = layerFromFileText(
      JSON.stringify({
        tls: { ca: "/a", cert: "/b", key: "/c", requireClientCert: false },
        auth: { mode: "none" },
      }),
      "/etc/sanpath.json",
    );
    const config = resolveConfig([defaults, layer]);
    expect(config.tls?.requireClientCert).toBe(false);
    expect(config.auth.mode).toBe("none");
    const { layer: stringly } = layerFromFileText(
      JSON.stringify({ tls: { ca: "/a", cert: "/b", key: "/c", requireClientCert: "false" } }),
      "/etc/sanpath.json",
    );
    expect(problemsOf(() => resolveConfig([defaults, stringly]))).toContain(
      "tls.requireClientCert must be true or false",
    );
    expect(problemsOf(() => fromEnv({ SANPATH_AUTH_MODE: "off" }))).toContain(
      "config: auth.mode must be one of required, none",
    );
  });
});

describe("startDaemonSecurity", () => {
  function capture(): { logger: ReturnType<typeof createLogger>; lines: () => Record<string, unknown>[] } {
    const chunks: string[] = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, done) {
        chunks.push(chunk.toString());
        done();
      },
    });
    return {
      logger: createLogger({ level: "info", destination }),
      lines: () =>
        chunks
          .join("")
          .split("\n")
          .filter((line) => line !== "")
          .map((line) => JSON.parse(line) as Record<string, unknown>),
    };
  }

  it("says loudly when auth is off, and when it is on with no way to authenticate", async () => {
    const off = capture();
    await (await startDaemonSecurity(fromEnv({ SANPATH_AUTH_MODE: "none" }), off.logger)).stop();
    expect(off.lines()).toContainEqual(
      expect.objectContaining({ level: "warn", msg: expect.stringContaining("auth.mode is none") as string }),
    );
    const locked = capture();
    await (await startDaemonSecurity(fromEnv({}), locked.logger)).stop();
    expect(locked.lines()).toContainEqual(
      expect.objectContaining({
        msg: expect.stringContaining("every sanpath.v1 call will be refused") as string,
      }),
    );
  });

  it("does not start with a missing token file, an unreadable TLS file or an audit file it cannot open", async () => {
    const { logger } = capture();
    await expect(
      startDaemonSecurity(fromEnv({ SANPATH_AUTH_TOKEN_FILE: join(dir, "missing.json") }), logger),
    ).rejects.toThrow(/token file .*missing.json cannot be read \(ENOENT\)/);
    await expect(
      startDaemonSecurity(
        fromEnv({
          SANPATH_TLS_CA: join(dir, "ca.crt"),
          SANPATH_TLS_CERT: "/x.crt",
          SANPATH_TLS_KEY: "/x.key",
        }),
        logger,
      ),
    ).rejects.toThrow(/tls.ca .*ca.crt cannot be read \(ENOENT\)/);
    const tokenFile = join(dir, "tokens.json");
    writeFileSync(tokenFile, formatTokenFile([tokenEntry("a", "admin", generateToken())]));
    await expect(
      startDaemonSecurity(
        fromEnv({ SANPATH_AUTH_TOKEN_FILE: tokenFile, SANPATH_AUDIT_FILE: join(dir, "no", "audit.log") }),
        logger,
      ),
    ).rejects.toThrow(/audit.file .* cannot be opened/);
  });
});
