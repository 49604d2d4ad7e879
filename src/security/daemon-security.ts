import { readFile } from "node:fs/promises";
import { ServerCredentials } from "@grpc/grpc-js";
import type { CallGate } from "../api/call-gate.js";
import type { SanpathdConfig, TlsConfig } from "../config/config.js";
import { SanpathError } from "../errors/sanpath-error.js";
import type { Logger } from "../log/logger.js";
import { loggerAuditLog, openFileAuditLog, type AuditLog } from "./audit-log.js";
import { Authorizer, type Credentials } from "./authorizer.js";
import { ANONYMOUS_CALLER, type Caller } from "./caller.js";
import { loadClientAuth, type ClientAuth } from "./client-credentials.js";
import { SecurityGate } from "./security-gate.js";
import { TokenStore } from "./token-store.js";

/** What sanpathd's security needs while it runs: the call gate, the server's TLS, files it watches. */
export interface DaemonSecurity {
  readonly gate: CallGate;
  /**
   * TLS (mutual when tls.requireClientCert) or plaintext (tls.plaintext), for both of the gRPC
   * server's listeners: the TCP port and the admin unix socket.
   */
  readonly serverCredentials: ServerCredentials;
  /**
   * Who presents these credentials (a token, else a client certificate), as the gate would decide;
   * "anonymous" (role admin) when auth.mode is none. Throws UNAUTHENTICATED or PERMISSION_DENIED.
   * The web console signs its users in with it; every call it then makes passes the gate.
   */
  identify(credentials: Credentials): Caller;
  /** Stops watching the token file and flushes the audit log. */
  stop(): Promise<void>;
}

/**
 * Reads the token file, the TLS material and opens the audit log; any of them missing or invalid
 * fails here, so sanpathd does not start with security it was not asked for. Logs what is on
 * (never a token or a key).
 */
export async function startDaemonSecurity(config: SanpathdConfig, logger: Logger): Promise<DaemonSecurity> {
  const serverCredentials =
    config.tls === undefined ? ServerCredentials.createInsecure() : await tlsServerCredentials(config.tls);
  const audit: AuditLog =
    config.audit.file === undefined
      ? loggerAuditLog(logger)
      : await openFileAuditLog(config.audit.file, logger);
  let tokens: TokenStore | undefined;
  try {
    if (config.auth.mode === "required" && config.auth.tokenFile !== undefined) {
      tokens = await TokenStore.open(config.auth.tokenFile, logger);
      tokens.watch();
    }
  } catch (error) {
    await audit.close();
    throw error;
  }
  const certificatesIdentify = config.tls?.requireClientCert === true;
  const state = {
    authMode: config.auth.mode,
    tokenFile: config.auth.tokenFile,
    tokens: tokens?.size,
    tls: config.tls === undefined ? "off" : certificatesIdentify ? "mutual" : "server only",
    auditFile: config.audit.file ?? "(daemon log)",
  };
  if (config.auth.mode === "none") {
    logger.warn(
      state,
      "auth.mode is none: every caller may call every method (for tests and development only)",
    );
  } else if (tokens === undefined && !certificatesIdentify) {
    logger.warn(
      state,
      "auth.mode is required but neither auth.tokenFile nor tls.requireClientCert is set: every sanpath.v1 call will be refused",
    );
  } else {
    logger.info(state, "authentication on");
  }
  if (config.auth.mode === "required" && config.tls === undefined) {
    logger.warn(
      { listen: config.listen },
      "TLS is off as asked (tls.plaintext): tokens and answers cross the network in plaintext; make certificates with sanpath cert",
    );
  }
  // Under mutual TLS a cluster member proves itself with its node certificate; a token with role
  // node (a file that can be copied) would be a second, weaker way in to NodeService.
  const authorizer =
    config.auth.mode === "none"
      ? undefined
      : new Authorizer(tokens, { nodeRoleByCertificateOnly: certificatesIdentify });
  return {
    gate: new SecurityGate(authorizer, audit),
    serverCredentials,
    identify: (credentials) => authorizer?.authenticate(credentials) ?? ANONYMOUS_CALLER,
    async stop() {
      tokens?.close();
      await audit.close();
    },
  };
}

/**
 * The credentials this node uses to call other nodes' NodeService: its own certificate when TLS is
 * on (OU=node makes it a cluster member); its cluster token (auth.nodeTokenFile) only when TLS is
 * off, since under mutual TLS role-node tokens are refused.
 *   const auth = await nodeClientAuth(config);
 *   new NodeServiceClient(address, auth.channel, { ...auth.options, ...channelOptions });
 */
export function nodeClientAuth(config: SanpathdConfig): Promise<ClientAuth> {
  return loadClientAuth(
    {
      tokenFile: config.tls === undefined ? config.auth.nodeTokenFile : undefined,
      ca: config.tls?.ca,
      cert: config.tls?.cert,
      key: config.tls?.key,
    },
    {
      token: "auth.nodeTokenFile",
      tokenFile: "auth.nodeTokenFile",
      ca: "tls.ca",
      cert: "tls.cert",
      key: "tls.key",
    },
  );
}

async function tlsServerCredentials(tls: TlsConfig): Promise<ServerCredentials> {
  const [ca, cert, key] = await Promise.all([
    readTlsFile(tls.ca, "tls.ca"),
    readTlsFile(tls.cert, "tls.cert"),
    readTlsFile(tls.key, "tls.key"),
  ]);
  try {
    return ServerCredentials.createSsl(ca, [{ cert_chain: cert, private_key: key }], tls.requireClientCert);
  } catch (error) {
    throw new SanpathError(
      "failed_precondition",
      "tls.cert / tls.key cannot be used (not PEM, or not a pair)",
      {
        field: "tls.cert",
        cause: error,
      },
    );
  }
}

async function readTlsFile(path: string, field: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? "error";
    throw new SanpathError("failed_precondition", `${field} ${path} cannot be read (${code})`, {
      field,
      cause: error,
    });
  }
}
