const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "500ms", "10s", "2m", "1h" or plain seconds ("30") → milliseconds; undefined when not a duration. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (match === null) return undefined;
  const millis = Number(match[1]) * (UNIT_MS[match[2] ?? "s"] ?? 1000);
  return Number.isFinite(millis) && millis > 0 ? Math.round(millis) : undefined;
}
