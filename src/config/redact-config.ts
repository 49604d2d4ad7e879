import type { ConsulConfig, SanpathdConfig } from "./config.js";

export const REDACTED = "[redacted]";

/** The config as it may be logged or printed. */
export type RedactedConfig = Omit<SanpathdConfig, "consul"> & {
  consul: Omit<ConsulConfig, "token"> & { token?: typeof REDACTED };
};

/** A copy safe to log or print: secrets replaced by "[redacted]"; unset ones are left out. */
export function redactConfig(config: SanpathdConfig): RedactedConfig {
  const { token, ...consul } = config.consul;
  return { ...config, consul: token === undefined ? consul : { ...consul, token: REDACTED } };
}
