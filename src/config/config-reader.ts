import {
  describeSetting,
  type ConfigLayer,
  type ConfigProblem,
  type ConfigSource,
  type RawSetting,
} from "./config-layers.js";

/**
 * Reads typed values out of a merged layer and collects every broken rule, so that an operator
 * sees all problems at once. A bad value yields a placeholder; check `problems` before using.
 */
export class ConfigReader {
  readonly problems: ConfigProblem[] = [];

  constructor(private readonly settings: ConfigLayer) {}

  /** A required string; `rule` returns a rule text when the value breaks it. */
  text(path: string, rule?: (value: string) => string | undefined): string {
    return this.optionalText(path, rule) ?? this.missing(path, "");
  }

  optionalText(path: string, rule?: (value: string) => string | undefined): string | undefined {
    const setting = this.settings.get(path);
    if (setting === undefined) return undefined;
    if (typeof setting.value !== "string") return this.fail(path, "must be a string", setting, undefined);
    const broken = rule?.(setting.value);
    return broken === undefined ? setting.value : this.fail(path, broken, setting, undefined);
  }

  /** Integers: JSON numbers from the file, decimal digits from env and flags. */
  integer(path: string, min: number, max: number): number {
    const setting = this.settings.get(path);
    const rule = `must be an integer from ${min} to ${max}`;
    if (setting === undefined) return this.missing(path, min);
    const { value } = setting;
    let parsed: number | undefined;
    if (typeof value === "number") parsed = value;
    else if (typeof value === "string" && setting.source.kind !== "file" && /^[+-]?\d+$/.test(value.trim())) {
      parsed = Number(value.trim());
    }
    if (parsed === undefined || !Number.isSafeInteger(parsed) || parsed < min || parsed > max) {
      return this.fail(path, rule, setting, min);
    }
    return parsed;
  }

  /** Booleans: JSON true/false from the file, "true"/"false" from env and flags. */
  boolean(path: string): boolean {
    const setting = this.settings.get(path);
    if (setting === undefined) return this.missing(path, false);
    const { value } = setting;
    if (typeof value === "boolean") return value;
    if (setting.source.kind !== "file" && (value === "true" || value === "false")) return value === "true";
    return this.fail(path, "must be true or false", setting, false);
  }

  oneOf<T extends string>(path: string, allowed: readonly [T, ...T[]]): T {
    const setting = this.settings.get(path);
    if (setting === undefined) return this.missing(path, allowed[0]);
    const match = allowed.find((candidate) => candidate === setting.value);
    return match ?? this.fail(path, `must be one of ${allowed.join(", ")}`, setting, allowed[0]);
  }

  /** Where a setting came from (undefined: not set at all). */
  sourceKind(path: string): ConfigSource["kind"] | undefined {
    return this.settings.get(path)?.source.kind;
  }

  /** `true from SANPATH_X`, for a problem's `got` (a secret's value is never shown). */
  describe(path: string): string | undefined {
    const setting = this.settings.get(path);
    return setting === undefined ? undefined : describeSetting(path, setting);
  }

  addProblem(problem: ConfigProblem): void {
    this.problems.push(problem);
  }

  private fail<T>(path: string, rule: string, setting: RawSetting, placeholder: T): T {
    this.problems.push({ field: path, rule, got: describeSetting(path, setting) });
    return placeholder;
  }

  private missing<T>(path: string, placeholder: T): T {
    this.problems.push({ field: path, rule: "must be set" });
    return placeholder;
  }
}
