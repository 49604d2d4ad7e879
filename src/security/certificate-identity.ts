import type { PeerCertificate } from "node:tls";
import type { Caller } from "./caller.js";
import { CALLER_NAME } from "./token-file.js";
import { isRole, type Role } from "./roles.js";

/**
 * The caller a client certificate (already verified against the cluster CA by the TLS handshake)
 * stands for: CN = the name, OU = the role ("node" for a cluster member, or an operator role).
 * undefined when the certificate names no sanpath role.
 */
export function callerOfCertificate(certificate: PeerCertificate): Caller | undefined {
  const name = firstValue(certificate.subject.CN);
  if (name === undefined || !CALLER_NAME.test(name)) return undefined;
  const roles = allValues(certificate.subject.OU).filter(isRole);
  // More than one role OU is ambiguous: refuse rather than pick one.
  if (roles.length !== 1) return undefined;
  const role: Role | undefined = roles[0];
  return role === undefined ? undefined : { name, role, credential: "certificate" };
}

/** "CN=alice, OU=admin" for messages (no key material in it). */
export function describeCertificate(certificate: PeerCertificate): string {
  const cn = allValues(certificate.subject.CN).join("+");
  const ou = allValues(certificate.subject.OU).join("+");
  return `CN=${cn || "(none)"}, OU=${ou || "(none)"}`;
}

/** Node puts a repeated attribute in an array, a single one in a string. */
function allValues(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

function firstValue(value: string | string[] | undefined): string | undefined {
  return allValues(value)[0];
}
