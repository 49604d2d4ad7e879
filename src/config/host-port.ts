import { isIP } from "node:net";

export interface HostPort {
  /** Without brackets, also for IPv6. */
  host: string;
  port: number;
}

const HOSTNAME =
  /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/;

/** "host:port" or "[v6]:port" → parts; undefined when it is neither. Port 0..65535. */
export function parseHostPort(text: string): HostPort | undefined {
  const bracketed = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text);
  const plain = /^([^:[\]]+):(\d{1,5})$/.exec(text);
  const match = bracketed ?? plain;
  if (match === null) return undefined;
  const host = match[1] ?? "";
  const port = Number(match[2]);
  if (port > 65_535) return undefined;
  if (bracketed !== null ? isIP(host) !== 6 : isIP(host) !== 4 && !HOSTNAME.test(host)) return undefined;
  return { host, port };
}

/** The text form of an address, brackets around IPv6. */
export function formatHostPort({ host, port }: HostPort): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}

/** 0.0.0.0 and :: bind every interface; nobody can connect *to* them from elsewhere. */
export function isWildcardHost(host: string): boolean {
  return host === "0.0.0.0" || host === "::" || host === "[::]";
}
