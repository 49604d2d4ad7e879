/**
 * Certificates of a cluster CA, made with the openssl command line (Debian's openssl package;
 * node:crypto cannot sign X.509 certificates). Keys are EC P-256, written with mode 0600.
 *   ca.crt / ca.key          the cluster CA (keep ca.key off the nodes if you can)
 *   <node>.crt / <node>.key  a node: CN=<node name>, OU=node, server + client auth, SANs for its addresses
 *   <name>.crt / <name>.key  an operator: CN=<name>, OU=<role>, client auth only
 */
import { access, chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { isIP } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SanpathError } from "../errors/sanpath-error.js";
import type { CommandRunner } from "../exec/command-runner.js";
import { CALLER_NAME, CALLER_NAME_RULE } from "./token-file.js";
import { OPERATOR_ROLES, type OperatorRole } from "./roles.js";

const OPENSSL_TIMEOUT_MS = 30_000;
const DNS_NAME =
  /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

export interface IssuedFiles {
  readonly cert: string;
  readonly key: string;
}

export interface CertificateOptions {
  /** Folder of ca.crt and ca.key, where new files go. */
  readonly dir: string;
  readonly days: number;
  /** Replace files that exist; otherwise an existing file is refused. */
  readonly force?: boolean;
  readonly signal?: AbortSignal;
}

/** The cluster CA: dir/ca.crt and dir/ca.key. */
export async function issueClusterCa(
  runner: CommandRunner,
  options: CertificateOptions,
): Promise<IssuedFiles> {
  await mkdir(options.dir, { recursive: true, mode: 0o700 });
  const files = { cert: join(options.dir, "ca.crt"), key: join(options.dir, "ca.key") };
  await refuseExisting(files, options.force);
  await openssl(runner, options, files, [
    "-subj",
    "/O=sanpath/CN=sanpath cluster CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE,pathlen:0",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  ]);
  return files;
}

/** A node certificate: OU=node (a cluster member), valid for TLS server and client. */
export async function issueNodeCertificate(
  runner: CommandRunner,
  options: CertificateOptions & { name: string; ips: readonly string[]; dnsNames: readonly string[] },
): Promise<IssuedFiles> {
  checkName(options.name);
  for (const [index, ip] of options.ips.entries())
    if (isIP(ip) === 0)
      throw invalid(`ip[${index}]`, `must be an IPv4 or IPv6 address (got ${JSON.stringify(ip)})`);
  for (const [index, dns] of options.dnsNames.entries())
    if (!DNS_NAME.test(dns))
      throw invalid(`dns[${index}]`, `must be a DNS name (got ${JSON.stringify(dns)})`);
  const sans = [...options.ips.map((ip) => `IP:${ip}`), ...options.dnsNames.map((dns) => `DNS:${dns}`)];
  if (sans.length === 0) throw invalid("ip", "give at least one --ip or --dns the node is reached at");
  const files = await outputFiles(options);
  await openssl(
    runner,
    options,
    files,
    [
      "-subj",
      `/O=sanpath/OU=node/CN=${options.name}`,
      ...leafExtensions("serverAuth,clientAuth"),
      "-addext",
      `subjectAltName=${sans.join(",")}`,
    ],
    true,
  );
  return files;
}

/** An operator's client certificate: OU=<role>. */
export async function issueClientCertificate(
  runner: CommandRunner,
  options: CertificateOptions & { name: string; role: string },
): Promise<IssuedFiles> {
  checkName(options.name);
  if (!(OPERATOR_ROLES as readonly string[]).includes(options.role))
    throw invalid(
      "role",
      `must be one of ${OPERATOR_ROLES.join(", ")} (got ${JSON.stringify(options.role)})`,
    );
  const role = options.role as OperatorRole;
  const files = await outputFiles(options);
  await openssl(
    runner,
    options,
    files,
    ["-subj", `/O=sanpath/OU=${role}/CN=${options.name}`, ...leafExtensions("clientAuth")],
    true,
  );
  return files;
}

function leafExtensions(extendedKeyUsage: string): string[] {
  return [
    "-addext",
    "basicConstraints=critical,CA:FALSE",
    "-addext",
    "keyUsage=critical,digitalSignature,keyEncipherment",
    "-addext",
    `extendedKeyUsage=${extendedKeyUsage}`,
  ];
}

async function outputFiles(options: CertificateOptions & { name: string }): Promise<IssuedFiles> {
  if (options.name === "ca") throw invalid("name", 'must not be "ca" (the CA\'s own files)');
  const ca = { cert: join(options.dir, "ca.crt"), key: join(options.dir, "ca.key") };
  for (const file of [ca.cert, ca.key]) {
    if (!(await exists(file)))
      throw new SanpathError(
        "failed_precondition",
        `${file} is missing: make the CA first (sanpath cert ca --dir ${options.dir})`,
        {
          field: "dir",
        },
      );
  }
  const files = {
    cert: join(options.dir, `${options.name}.crt`),
    key: join(options.dir, `${options.name}.key`),
  };
  await refuseExisting(files, options.force);
  return files;
}

/** `openssl req -x509 -new` with a fresh key; signed by dir/ca.* when `signedByCa`, else self-signed. */
async function openssl(
  runner: CommandRunner,
  options: CertificateOptions,
  files: IssuedFiles,
  subjectAndExtensions: readonly string[],
  signedByCa = false,
): Promise<void> {
  // A config of our own: the system openssl.cnf would add its default (CA) extensions.
  const scratch = await mkdtemp(join(tmpdir(), "sanpath-openssl-"));
  try {
    const config = join(scratch, "openssl.cnf");
    await writeFile(config, "[req]\ndistinguished_name = dn\n[dn]\n");
    // The key file exists with mode 0600 before openssl writes the key into it.
    await writeFile(files.key, "", { mode: 0o600 });
    await chmod(files.key, 0o600);
    const signing = signedByCa
      ? ["-CA", join(options.dir, "ca.crt"), "-CAkey", join(options.dir, "ca.key")]
      : [];
    await runner.run(
      "openssl",
      [
        "req",
        "-x509",
        "-new",
        "-config",
        config,
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-sha256",
        "-days",
        String(options.days),
        "-keyout",
        files.key,
        "-out",
        files.cert,
        ...signing,
        ...subjectAndExtensions,
        "-addext",
        "subjectKeyIdentifier=hash",
      ],
      { timeoutMs: OPENSSL_TIMEOUT_MS, ...(options.signal === undefined ? {} : { signal: options.signal }) },
    );
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

async function refuseExisting(files: IssuedFiles, force: boolean | undefined): Promise<void> {
  if (force === true) return;
  for (const file of [files.cert, files.key]) {
    if (await exists(file))
      throw new SanpathError("already_exists", `${file} exists already (pass --force to replace it)`, {
        field: "dir",
      });
  }
}

function checkName(name: string): void {
  if (!CALLER_NAME.test(name)) throw invalid("name", `${CALLER_NAME_RULE} (got ${JSON.stringify(name)})`);
}

function invalid(field: string, rule: string): SanpathError {
  return new SanpathError("invalid_argument", `${field} ${rule}`, { reason: "INVALID_FIELD", field });
}

function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}
