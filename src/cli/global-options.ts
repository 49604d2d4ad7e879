import { parseHostPort } from "../config/host-port.js";
import type { ClientCredentialSources } from "../security/client-credentials.js";
import type { GlobalOptions, OutputFormat } from "./client.js";
import { parseDuration } from "./duration.js";
import { UsageError } from "./errors.js";

export const DEFAULT_SERVER = "127.0.0.1:7410";
export const DEFAULT_TIMEOUT = "10s";

/**
 * Token: $SANPATH_TOKEN, else --token-file ($SANPATH_TOKEN_FILE); never a command-line value, so
 * it shows in no process list or shell history. TLS: --ca, --cert, --key ($SANPATH_CA, …).
 */
function credentialSources(raw: Record<string, unknown>): ClientCredentialSources {
  const text = (value: unknown): string | undefined =>
    typeof value === "string" && value !== "" ? value : undefined;
  return {
    token: text(process.env.SANPATH_TOKEN),
    tokenFile: text(raw.tokenFile),
    ca: text(raw.ca),
    cert: text(raw.cert),
    key: text(raw.key),
  };
}

/** Checks the raw global options commander collected (flags, $SANPATH_SERVER, defaults). */
export function resolveGlobalOptions(raw: Record<string, unknown>): GlobalOptions {
  const server = typeof raw.server === "string" ? raw.server : DEFAULT_SERVER;
  if (!isUnixSocketAddress(server)) {
    const parsed = parseHostPort(server);
    if (parsed === undefined || parsed.port === 0) {
      throw new UsageError(
        `--server must be host:port with a port from 1 to 65535, or unix:///absolute/path of a sanpathd admin socket (got ${JSON.stringify(server)})`,
      );
    }
  }
  const output: OutputFormat = raw.output === "json" ? "json" : "table";
  const timeoutText = typeof raw.timeout === "string" ? raw.timeout : DEFAULT_TIMEOUT;
  const timeoutMs = parseDuration(timeoutText);
  if (timeoutMs === undefined) {
    throw new UsageError(
      `--timeout must be a duration like 500ms, 10s, 2m or 1h (got ${JSON.stringify(timeoutText)})`,
    );
  }
  return { server, output, timeoutMs, credentials: credentialSources(raw) };
}

/**
 * `unix:///abs/path` or `unix:/abs/path`: a sanpathd admin socket (adminSocket), e.g. of a dev
 * cluster node inside a network namespace; gRPC takes these targets as they are.
 */
function isUnixSocketAddress(server: string): boolean {
  return /^unix:(\/\/)?\/[^\0]+$/.test(server);
}
