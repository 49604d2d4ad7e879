import type { SanpathdConfig } from "./config.js";

export const REDACTED = "[redacted]";

/** A copy safe to log or print: secrets replaced by "[redacted]" (absent ones stay absent). */
export function redactConfig(config: SanpathdConfig): SanpathdConfig {
  return {
    ...config,
    consul: { ...config.consul, token: config.consul.token === undefined ? undefined : REDACTED },
  };
}
