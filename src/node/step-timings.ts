/**
 * Milliseconds spent per named step of one operation, for its log line ("where did this
 * CleanPath's time go"): `const steps = new StepTimings(); …; steps.lap("portalOff"); …;
 * log.info({ ms: steps.laps() })`.
 */
export class StepTimings {
  private last = performance.now();
  private readonly spent: Record<string, number> = {};

  /** Charges the time since the previous lap (or the start) to `step`. */
  lap(step: string): void {
    const now = performance.now();
    this.spent[step] = Math.round((this.spent[step] ?? 0) + now - this.last);
    this.last = now;
  }

  laps(): Readonly<Record<string, number>> {
    return { ...this.spent };
  }
}
