/**
 * The dev cluster's certificates, made at `up` with the same code as `sanpath cert` (openssl; EC
 * P-256 keys written 0600) into <state>/pki:
 *   ca.crt / ca.key            the dev cluster's CA
 *   nodeN.crt / nodeN.key      OU=node, SANs: its management IP (what other nodes dial), its name,
 *                              and "localhost" (the name a unix: target, the admin socket, is reached by)
 *   dev-admin.crt / .key       OU=admin: the CLI's client certificate (with the admin token)
 */
import { chmod, mkdir } from "node:fs/promises";
import { join } from "node:path";
import type { CommandRunner } from "../exec/command-runner.js";
import {
  issueClientCertificate,
  issueClusterCa,
  issueNodeCertificate,
} from "../security/cluster-certificates.js";
import type { NodeLayout } from "./layout.js";

/** Long enough for a dev cluster; nothing renews them. */
const DAYS = 30;

export const ADMIN_CERTIFICATE_NAME = "dev-admin";
/** The server name a client gives for a unix: target (grpc-js's default authority of a unix socket). */
export const ADMIN_SOCKET_SERVER_NAME = "localhost";

/** Where a dev cluster's certificates are (recorded in the state file). */
export interface ClusterPki {
  readonly dir: string;
  readonly ca: string;
  readonly adminCert: string;
  readonly adminKey: string;
}

export interface PemPair {
  readonly cert: string;
  readonly key: string;
}

export function clusterPki(stateDir: string): ClusterPki {
  const dir = join(stateDir, "pki");
  return {
    dir,
    ca: join(dir, "ca.crt"),
    adminCert: join(dir, `${ADMIN_CERTIFICATE_NAME}.crt`),
    adminKey: join(dir, `${ADMIN_CERTIFICATE_NAME}.key`),
  };
}

export function nodeCertificate(pki: ClusterPki, nodeName: string): PemPair {
  return { cert: join(pki.dir, `${nodeName}.crt`), key: join(pki.dir, `${nodeName}.key`) };
}

/** Issues the CA, one certificate per node and the admin client certificate. */
export async function issueClusterPki(
  runner: CommandRunner,
  pki: ClusterPki,
  nodes: readonly NodeLayout[],
  signal: AbortSignal,
): Promise<void> {
  await mkdir(pki.dir, { recursive: true, mode: 0o700 });
  await chmod(pki.dir, 0o700);
  const options = { dir: pki.dir, days: DAYS, signal };
  await issueClusterCa(runner, options);
  await Promise.all([
    ...nodes.map((node) =>
      issueNodeCertificate(runner, {
        ...options,
        name: node.name,
        ips: [node.mgmtIp],
        dnsNames: [node.name, ADMIN_SOCKET_SERVER_NAME],
      }),
    ),
    issueClientCertificate(runner, { ...options, name: ADMIN_CERTIFICATE_NAME, role: "admin" }),
  ]);
}
