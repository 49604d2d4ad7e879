/**
 * The failback.* settings (auto failback, issue #17): off by default, their defaults, and the
 * rules a bad value breaks (field named, rule stated). Kept apart from config.test.ts.
 */
import { describe, expect, it } from "vitest";
import { layerFromEnv, layerFromFileText, layerFromObject } from "../../src/config/config-layers.js";
import { ConfigError, defaultSettings, resolveConfig } from "../../src/config/load-config.js";
import { CONFIG_FIELDS } from "../../src/config/fields.js";
import { thrownAs } from "../support/thrown.js";

const defaults = layerFromObject({ ...defaultSettings(), "tls.plaintext": true }, { kind: "default" });

function fromEnv(env: Record<string, string>): ReturnType<typeof resolveConfig> {
  return resolveConfig([defaults, layerFromEnv(env)]);
}

describe("failback config", () => {
  it("is off by default, with the documented defaults", () => {
    expect(resolveConfig([defaults]).failback).toEqual({
      enabled: false,
      healthyForMs: 60_000,
      maxConcurrentMoves: 2,
      minIntervalMs: 300_000,
    });
  });

  it("is documented for --help and the environment", () => {
    const fields = CONFIG_FIELDS.filter((field) => field.path.startsWith("failback."));
    expect(fields.map((field) => [field.path, field.env])).toEqual([
      ["failback.enabled", "SANPATH_FAILBACK_ENABLED"],
      ["failback.healthyForMs", "SANPATH_FAILBACK_HEALTHY_FOR_MS"],
      ["failback.maxConcurrentMoves", "SANPATH_FAILBACK_MAX_CONCURRENT_MOVES"],
      ["failback.minIntervalMs", "SANPATH_FAILBACK_MIN_INTERVAL_MS"],
    ]);
  });

  it("is read from the environment and from the file", () => {
    expect(
      fromEnv({
        SANPATH_FAILBACK_ENABLED: "true",
        SANPATH_FAILBACK_HEALTHY_FOR_MS: "1000",
        SANPATH_FAILBACK_MAX_CONCURRENT_MOVES: "64",
        SANPATH_FAILBACK_MIN_INTERVAL_MS: "0",
      }).failback,
    ).toEqual({ enabled: true, healthyForMs: 1000, maxConcurrentMoves: 64, minIntervalMs: 0 });
    const { layer, problems } = layerFromFileText(
      JSON.stringify({ failback: { enabled: true, healthyForMs: 120_000 } }),
      "/etc/sanpath/sanpathd.json",
    );
    expect(problems).toEqual([]);
    expect(resolveConfig([defaults, layer]).failback).toMatchObject({ enabled: true, healthyForMs: 120_000 });
  });

  const cases: { env: Record<string, string>; message: string }[] = [
    { env: { SANPATH_FAILBACK_ENABLED: "yes" }, message: "config: failback.enabled must be true or false" },
    {
      env: { SANPATH_FAILBACK_HEALTHY_FOR_MS: "999" },
      message: "config: failback.healthyForMs must be an integer from 1000 to 86400000",
    },
    {
      env: { SANPATH_FAILBACK_MAX_CONCURRENT_MOVES: "0" },
      message: "config: failback.maxConcurrentMoves must be an integer from 1 to 64",
    },
    {
      env: { SANPATH_FAILBACK_MAX_CONCURRENT_MOVES: "65" },
      message: "config: failback.maxConcurrentMoves must be an integer from 1 to 64",
    },
    {
      env: { SANPATH_FAILBACK_MIN_INTERVAL_MS: "-1" },
      message: "config: failback.minIntervalMs must be an integer from 0 to 86400000",
    },
  ];

  it.each(cases)("refuses $env", ({ env, message }) => {
    const error = thrownAs(ConfigError, () => fromEnv(env));
    expect(error.message.startsWith(message)).toBe(true);
    expect(error.reason).toBe("INVALID_FIELD");
    expect(error.field).toBe(message.slice("config: ".length).split(" ")[0]);
  });
});
