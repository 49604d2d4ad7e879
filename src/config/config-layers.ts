import { CONFIG_FIELDS, SECRET_FIELD_PATHS } from "./fields.js";

/** Where a setting came from, for error messages. */
export type ConfigSource =
  | { kind: "default" }
  | { kind: "file"; file: string }
  | { kind: "env"; name: string }
  | { kind: "flag"; name: string };

export interface RawSetting {
  /** Strings from env and flags; any JSON value from the file. */
  value: unknown;
  source: ConfigSource;
}

/** One source of settings, keyed by dotted field path. Later layers override earlier ones. */
export type ConfigLayer = ReadonlyMap<string, RawSetting>;

/** A field that breaks a rule. */
export interface ConfigProblem {
  field: string;
  /** e.g. "must be an integer from 10 to 86400". */
  rule: string;
  /** What was given, e.g. `5 from SANPATH_SESSION_TTL_SECONDS`; never a secret's value. */
  got?: string;
}

const KNOWN_PATHS: ReadonlySet<string> = new Set(CONFIG_FIELDS.map((field) => field.path));

export function describeSource(source: ConfigSource): string {
  switch (source.kind) {
    case "default":
      return "the default";
    case "file":
      return source.file;
    case "env":
      return source.name;
    case "flag":
      return `--${source.name}`;
  }
}

/** `5 from SANPATH_SESSION_TTL_SECONDS`, or `a value from …` for secrets. */
export function describeSetting(path: string, setting: RawSetting): string {
  const shown = SECRET_FIELD_PATHS.has(path) ? "a value" : JSON.stringify(setting.value);
  return setting.source.kind === "default" ? shown : `${shown} from ${describeSource(setting.source)}`;
}

export function layerFromObject(values: Record<string, unknown>, source: ConfigSource): ConfigLayer {
  const layer = new Map<string, RawSetting>();
  for (const [path, value] of Object.entries(values)) {
    if (value !== undefined) layer.set(path, { value, source });
  }
  return layer;
}

/** SANPATH_* variables; empty ones count as unset. */
export function layerFromEnv(env: NodeJS.ProcessEnv): ConfigLayer {
  const layer = new Map<string, RawSetting>();
  for (const field of CONFIG_FIELDS) {
    const value = env[field.env];
    if (value !== undefined && value !== "")
      layer.set(field.path, { value, source: { kind: "env", name: field.env } });
  }
  return layer;
}

/** Flag values keyed by field path (as the sanpathd command collects them). */
export function layerFromFlags(flags: Readonly<Record<string, string | undefined>>): ConfigLayer {
  const layer = new Map<string, RawSetting>();
  for (const field of CONFIG_FIELDS) {
    const value = flags[field.path];
    if (value !== undefined && field.flag !== undefined) {
      layer.set(field.path, { value, source: { kind: "flag", name: field.flag } });
    }
  }
  return layer;
}

/**
 * The JSON config file: an object shaped like SanpathdConfig, every field optional.
 * Unknown fields are problems, so a typo does not silently fall back to a default.
 */
export function layerFromFileText(
  text: string,
  file: string,
): { layer: ConfigLayer; problems: ConfigProblem[] } {
  const layer = new Map<string, RawSetting>();
  const problems: ConfigProblem[] = [];
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    problems.push({ field: file, rule: `must be valid JSON (${reason})` });
    return { layer, problems };
  }
  if (!isPlainObject(parsed)) {
    problems.push({ field: file, rule: "must hold a JSON object" });
    return { layer, problems };
  }
  const walk = (object: Record<string, unknown>, prefix: string): void => {
    for (const [key, value] of Object.entries(object)) {
      const path = prefix === "" ? key : `${prefix}.${key}`;
      if (KNOWN_PATHS.has(path)) {
        if (value !== null) layer.set(path, { value, source: { kind: "file", file } });
      } else if (isSectionPath(path)) {
        if (isPlainObject(value)) walk(value, path);
        else
          problems.push({
            field: path,
            rule: "must be an object",
            got: `${JSON.stringify(value)} from ${file}`,
          });
      } else {
        problems.push({ field: path, rule: "is not a known setting", got: `in ${file}` });
      }
    }
  };
  walk(parsed, "");
  return { layer, problems };
}

function isSectionPath(path: string): boolean {
  for (const known of KNOWN_PATHS) if (known.startsWith(`${path}.`)) return true;
  return false;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Later layers win. */
export function mergeLayers(layers: readonly ConfigLayer[]): ConfigLayer {
  const merged = new Map<string, RawSetting>();
  for (const layer of layers) for (const [path, setting] of layer) merged.set(path, setting);
  return merged;
}
