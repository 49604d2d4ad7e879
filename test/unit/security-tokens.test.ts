import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Metadata } from "@grpc/grpc-js";
import type { PeerCertificate } from "node:tls";
import { afterAll, describe, expect, it } from "vitest";
import { SanpathError } from "../../src/errors/sanpath-error.js";
import { createLogger } from "../../src/log/logger.js";
import { Authorizer } from "../../src/security/authorizer.js";
import {
  addToTokenFile,
  formatTokenFile,
  generateToken,
  hashToken,
  isWellFormedToken,
  parseTokenFile,
  tokenEntry,
} from "../../src/security/token-file.js";
import { TokenStore } from "../../src/security/token-store.js";
import { thrownAs } from "../support/thrown.js";

const logger = createLogger({ level: "silent" });
const dir = mkdtempSync(join(tmpdir(), `sanpath-tokens-${process.pid}-`));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function failureOf(action: () => unknown): { kind: string; message: string; field: string | undefined } {
  const error = thrownAs(SanpathError, action);
  return { kind: error.kind, message: error.message, field: error.field };
}

describe("tokens", () => {
  it("are 256 random bits behind a recognisable prefix, never the same twice", () => {
    const tokens = new Set(Array.from({ length: 200 }, () => generateToken()));
    expect(tokens.size).toBe(200);
    for (const token of tokens) expect(isWellFormedToken(token)).toBe(true);
    expect([...tokens][0]).toMatch(/^spt_[A-Za-z0-9_-]{43}$/);
  });

  it("are stored as their SHA-256 only", () => {
    const token = generateToken();
    const entry = tokenEntry("alice", "viewer", token);
    expect(entry.sha256).toBe(hashToken(token));
    expect(entry.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(formatTokenFile([entry])).not.toContain(token);
  });
});

describe("token file", () => {
  const good = { name: "alice", role: "viewer", sha256: "a".repeat(64) };

  it("parses entries and refuses every broken one, naming the entry and the field", () => {
    expect(parseTokenFile(JSON.stringify([good]), "t.json")).toEqual([good]);
    const cases: [unknown, string, string][] = [
      [{ not: "an array" }, "t.json", "must hold a JSON array"],
      [
        [{ ...good, role: "root" }],
        "t.json[0].role",
        "must be one of viewer, disk-admin, path-admin, admin, node",
      ],
      [[{ ...good, name: "../etc" }], "t.json[0].name", "must be 1..64 of"],
      [[{ ...good, sha256: "spt_plaintexttoken" }], "t.json[0].sha256", "not the token"],
      [[good, { ...good, sha256: "b".repeat(64) }], "t.json[1].name", "must be unique"],
      [[good, { ...good, name: "bob" }], "t.json[1].sha256", "must be unique"],
      [[{ ...good, extra: 1 }], "t.json[0].extra", "is not a known field"],
      [[null], "t.json[0]", "must be an object"],
    ];
    for (const [content, field, rule] of cases) {
      const failure = failureOf(() => parseTokenFile(JSON.stringify(content), "t.json"));
      expect(failure.field, JSON.stringify(content)).toBe(field);
      expect(failure.message).toContain(rule);
    }
    expect(failureOf(() => parseTokenFile("[{", "t.json")).message).toContain("must be valid JSON");
  });

  it("grows by one entry per token create, mode 0600, and refuses a name it has", async () => {
    const file = join(dir, "grow.json");
    await addToTokenFile(file, tokenEntry("alice", "viewer", generateToken()));
    await addToTokenFile(file, tokenEntry("bob", "admin", generateToken()));
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const names = parseTokenFile(await readFile(file, "utf8"), file).map((entry) => entry.name);
    expect(names).toEqual(["alice", "bob"]);
    await expect(addToTokenFile(file, tokenEntry("alice", "admin", generateToken()))).rejects.toMatchObject({
      kind: "already_exists",
    });
  });
});

describe("token store", () => {
  it("finds a token by its digest, and keeps the last good tokens when the file turns invalid", async () => {
    const file = join(dir, "store.json");
    const alice = generateToken();
    const bob = generateToken();
    writeFileSync(file, formatTokenFile([tokenEntry("alice", "viewer", alice)]));
    const store = await TokenStore.open(file, logger);
    expect(store.find(alice)?.name).toBe("alice");
    expect(store.find(bob)).toBeUndefined();
    expect(store.find(`${alice}x`)).toBeUndefined();

    writeFileSync(file, formatTokenFile([tokenEntry("bob", "admin", bob)]));
    expect(await store.reload()).toBe(true);
    expect(store.find(alice)).toBeUndefined();
    expect(store.find(bob)?.role).toBe("admin");

    writeFileSync(file, "not json");
    expect(await store.reload()).toBe(false);
    expect(store.find(bob)?.role).toBe("admin");
  });

  it("refuses to open a missing file", async () => {
    await expect(TokenStore.open(join(dir, "missing.json"), logger)).rejects.toThrow(
      /cannot be read \(ENOENT\)/,
    );
  });
});

describe("authenticate", () => {
  const token = generateToken();
  const file = join(dir, "auth.json");
  writeFileSync(file, formatTokenFile([tokenEntry("carol", "disk-admin", token)]));

  const metadataWith = (...values: string[]): Metadata => {
    const metadata = new Metadata();
    for (const value of values) metadata.add("authorization", value);
    return metadata;
  };
  const certificate = (subject: Record<string, string | string[]>): PeerCertificate =>
    ({ subject }) as unknown as PeerCertificate;

  it("takes a known bearer token, and refuses a missing, malformed or unknown one without echoing it", async () => {
    const authorizer = new Authorizer(await TokenStore.open(file, logger));
    const credentials = (metadata: Metadata) => ({ metadata, certificate: undefined });
    expect(authorizer.authenticate(credentials(metadataWith(`Bearer ${token}`)))).toEqual({
      name: "carol",
      role: "disk-admin",
      credential: "token",
    });
    expect(authorizer.authenticate(credentials(metadataWith(`bearer   ${token}`))).name).toBe("carol");

    const refusals: [Metadata, string][] = [
      [new Metadata(), "no credentials"],
      [metadataWith(token), "must be 'Bearer <token>'"],
      [metadataWith(`Basic ${token}`), "must be 'Bearer <token>'"],
      [metadataWith(`Bearer ${token}`, `Bearer ${token}`), "send one authorization header"],
      [metadataWith("Bearer spt_guessed"), "not known to this sanpathd"],
    ];
    for (const [metadata, message] of refusals) {
      const failure = failureOf(() => authorizer.authenticate(credentials(metadata)));
      expect(failure.kind).toBe("unauthenticated");
      expect(failure.message).toContain(message);
      expect(failure.message).not.toContain(token);
    }
  });

  it("takes a certificate's CN as the name and its OU as the role; a token wins over a certificate", async () => {
    const authorizer = new Authorizer(await TokenStore.open(file, logger));
    const fromCertificate = (subject: Record<string, string | string[]>, metadata = new Metadata()) =>
      authorizer.authenticate({ metadata, certificate: certificate(subject) });
    expect(fromCertificate({ CN: "node-1", OU: "node", O: "sanpath" })).toEqual({
      name: "node-1",
      role: "node",
      credential: "certificate",
    });
    expect(fromCertificate({ CN: "dave", OU: ["sales", "path-admin"] }).role).toBe("path-admin");
    expect(fromCertificate({ CN: "dave", OU: "viewer" }, metadataWith(`Bearer ${token}`)).name).toBe("carol");
    const subjects: Record<string, string | string[]>[] = [
      { CN: "dave" },
      { CN: "dave", OU: "root" },
      { CN: "dave", OU: ["admin", "node"] },
    ];
    for (const subject of subjects) {
      const failure = failureOf(() => fromCertificate(subject));
      expect(failure.kind, JSON.stringify(subject)).toBe("permission_denied");
      expect(failure.message).toContain("names no sanpath role");
    }
  });

  it("under mutual TLS takes role node from a node certificate only, never from a token", async () => {
    const nodeToken = generateToken();
    const operatorToken = generateToken();
    const nodeFile = join(dir, "node-auth.json");
    writeFileSync(
      nodeFile,
      formatTokenFile([tokenEntry("peer", "node", nodeToken), tokenEntry("olga", "admin", operatorToken)]),
    );
    const store = await TokenStore.open(nodeFile, logger);
    const mutual = new Authorizer(store, { nodeRoleByCertificateOnly: true });
    const failure = failureOf(() =>
      mutual.authenticate({
        metadata: metadataWith(`Bearer ${nodeToken}`),
        certificate: certificate({ CN: "node-2", OU: "node" }),
      }),
    );
    expect(failure.kind).toBe("unauthenticated");
    expect(failure.message).toContain(
      "token peer has role node, which this sanpathd takes only from a node certificate",
    );
    expect(failure.message).not.toContain(nodeToken);
    expect(
      mutual.authenticate({
        metadata: new Metadata(),
        certificate: certificate({ CN: "node-2", OU: "node" }),
      }),
    ).toEqual({ name: "node-2", role: "node", credential: "certificate" });
    expect(
      mutual.authenticate({ metadata: metadataWith(`Bearer ${operatorToken}`), certificate: undefined }).role,
    ).toBe("admin");
    // Without mutual TLS (plaintext or server-only TLS) the node token is how a node proves itself.
    expect(
      new Authorizer(store).authenticate({
        metadata: metadataWith(`Bearer ${nodeToken}`),
        certificate: undefined,
      }),
    ).toEqual({ name: "peer", role: "node", credential: "token" });
    store.close();
  });

  it("without a token file, refuses tokens but takes certificates", () => {
    const authorizer = new Authorizer(undefined);
    const failure = failureOf(() =>
      authorizer.authenticate({ metadata: metadataWith(`Bearer ${token}`), certificate: undefined }),
    );
    expect(failure.message).toContain("takes no tokens");
    expect(
      authorizer.authenticate({
        metadata: new Metadata(),
        certificate: certificate({ CN: "ed", OU: "admin" }),
      }).role,
    ).toBe("admin");
  });
});
