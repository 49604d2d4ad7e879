import { pino, type Logger, type DestinationStream } from "pino";

export type { Logger } from "pino";

/** Field paths whose values never reach a log line. */
export const REDACTED_PATHS: readonly string[] = [
  "secret",
  "password",
  "token",
  "chapSecret",
  "chap_secret",
  "*.secret",
  "*.password",
  "*.token",
  "*.chapSecret",
  "*.chap_secret",
  "*.*.secret",
  "*.*.password",
  "*.*.token",
  "chap.secret",
  "*.chap.secret",
  "request.chap.secret",
  "headers.authorization",
  "metadata.authorization",
  "authorization",
  "*.authorization",
];

export type LogLevel = "fatal" | "error" | "warn" | "info" | "debug" | "trace" | "silent";

export interface LoggerOptions {
  level?: LogLevel;
  /** Defaults to stdout. Tests pass a stream to read the lines back. */
  destination?: DestinationStream;
  base?: Record<string, unknown>;
}

/** JSON lines with pino; secret fields are replaced by "[redacted]". */
export function createLogger(options: LoggerOptions = {}): Logger {
  const config = {
    level: options.level ?? "info",
    base: options.base ?? {},
    redact: { paths: [...REDACTED_PATHS], censor: "[redacted]" },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  return options.destination === undefined ? pino(config) : pino(config, options.destination);
}
