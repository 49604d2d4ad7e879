import { HttpError } from "./console-http.js";

const WINDOW_MS = 60_000;
const MAX_FAILURES = 10;
const MAX_TRACKED = 10_000;

/** Refuses sign-ins from an address with 10 failures in the last minute (a token is not to be guessed). */
export class LoginThrottle {
  private readonly failures = new Map<string, number[]>();

  constructor(private readonly now: () => number = Date.now) {}

  check(address: string): void {
    const recent = this.recent(address);
    if (recent.length >= MAX_FAILURES) {
      const waitS = Math.ceil(((recent[0] ?? this.now()) + WINDOW_MS - this.now()) / 1000);
      throw new HttpError(
        429,
        "RESOURCE_EXHAUSTED",
        `too many failed sign-ins from ${address}: try again in ${waitS} s`,
      );
    }
  }

  failed(address: string): void {
    if (this.failures.size >= MAX_TRACKED && !this.failures.has(address)) {
      const first = this.failures.keys().next();
      if (first.done !== true) this.failures.delete(first.value);
    }
    this.failures.set(address, [...this.recent(address), this.now()]);
  }

  private recent(address: string): number[] {
    const since = this.now() - WINDOW_MS;
    const recent = (this.failures.get(address) ?? []).filter((time) => time > since);
    if (recent.length === 0) this.failures.delete(address);
    return recent;
  }
}
