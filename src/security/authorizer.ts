import type { Metadata } from "@grpc/grpc-js";
import type { PeerCertificate } from "node:tls";
import { SanpathError } from "../errors/sanpath-error.js";
import type { Caller } from "./caller.js";
import { callerOfCertificate, describeCertificate } from "./certificate-identity.js";
import { accessOf } from "./method-access.js";
import { OPERATOR_ROLES, NODE_ROLE } from "./roles.js";
import type { TokenStore } from "./token-store.js";

export const AUTHORIZATION_METADATA_KEY = "authorization";
const BEARER = /^Bearer[ \t]+(\S+)[ \t]*$/i;

/** What identifies a caller: its metadata and, under mutual TLS, its verified certificate. */
export interface Credentials {
  readonly metadata: Metadata;
  readonly certificate: PeerCertificate | undefined;
}

/**
 * Decides who a caller is (a bearer token from the token file, else a client certificate of the
 * cluster CA) and whether it may call a method (src/security/method-access.ts). Refusals are
 * SanpathErrors: UNAUTHENTICATED without acceptable credentials, PERMISSION_DENIED for a role
 * that may not call the method. Messages never repeat a credential.
 */
export interface AuthorizerOptions {
  /**
   * Mutual TLS is on: role node comes only from a node certificate (OU=node) of the cluster CA; a
   * token with role node is refused, so NodeService answers cluster members' certificates only.
   */
  readonly nodeRoleByCertificateOnly?: boolean;
}

export class Authorizer {
  /** `tokens` undefined: this sanpathd takes certificates only. */
  constructor(
    private readonly tokens: TokenStore | undefined,
    private readonly options: AuthorizerOptions = {},
  ) {}

  authenticate(credentials: Credentials): Caller {
    const headers = credentials.metadata.get(AUTHORIZATION_METADATA_KEY);
    if (headers.length > 1) throw unauthenticated("send one authorization header, not several");
    const header = headers[0];
    if (header !== undefined) {
      const token = typeof header === "string" ? BEARER.exec(header)?.[1] : undefined;
      if (token === undefined) throw unauthenticated("the authorization header must be 'Bearer <token>'");
      if (this.tokens === undefined)
        throw unauthenticated(
          "this sanpathd takes no tokens (auth.tokenFile is not set); use a client certificate",
        );
      const entry = this.tokens.find(token);
      if (entry === undefined) throw unauthenticated("the bearer token is not known to this sanpathd");
      if (entry.role === NODE_ROLE && this.options.nodeRoleByCertificateOnly === true)
        throw unauthenticated(
          `token ${entry.name} has role node, which this sanpathd takes only from a node certificate ` +
            "(mutual TLS is on): present the node's certificate and send no token",
        );
      return { name: entry.name, role: entry.role, credential: "token" };
    }
    if (credentials.certificate !== undefined) {
      const caller = callerOfCertificate(credentials.certificate);
      if (caller === undefined) {
        throw new SanpathError(
          "permission_denied",
          `the client certificate (${describeCertificate(credentials.certificate)}) names no sanpath role: ` +
            `its OU must be one of ${[...OPERATOR_ROLES, NODE_ROLE].join(", ")}`,
          { reason: "PERMISSION_DENIED" },
        );
      }
      return caller;
    }
    throw unauthenticated(
      "no credentials: send metadata 'authorization: Bearer <token>' (sanpath reads $SANPATH_TOKEN or " +
        "--token-file) or a client certificate of the cluster CA",
    );
  }

  /** Throws PERMISSION_DENIED unless `caller`'s role may call `method` ("/sanpath.v1.X/Y"). */
  authorize(caller: Caller, method: string): void {
    const access = accessOf(method);
    const shortName = method.replace(/^\/sanpath\.v1\./, "");
    if (access === undefined) {
      throw new SanpathError(
        "permission_denied",
        `${shortName} has no access rule: it is refused to everyone`,
        {
          reason: "PERMISSION_DENIED",
        },
      );
    }
    if (!access.allowed.includes(caller.role)) {
      throw new SanpathError(
        "permission_denied",
        `${caller.name} (role ${caller.role}) may not call ${shortName}: it takes role ${access.allowed.join(" or ")}`,
        { reason: "PERMISSION_DENIED" },
      );
    }
  }
}

function unauthenticated(message: string): SanpathError {
  return new SanpathError("unauthenticated", message, { reason: "UNAUTHENTICATED" });
}
