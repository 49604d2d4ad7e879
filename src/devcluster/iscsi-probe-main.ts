#!/usr/bin/env node
/**
 * The client side of outage measurements, started by iscsi-prober.ts inside the client namespace:
 *   ip netns exec <client ns> node dist/src/devcluster/iscsi-probe-main.js
 * stdin, one JSON object per line:
 *   {"watch":[{"ip":"198.51.100.64","iqn":"iqn…:00001"}],"intervalMs":20,"initiator":"iqn…"}
 *   {"stop":true}
 * stdout, one JSON object per line (times are wall-clock ms, performance.timeOrigin + now()):
 *   {"type":"ready","ip":…,"at":…}                   first answer
 *   {"type":"gap","ip":…,"from":…,"to":…}            two answers more than max(100, 2 × intervalMs) ms apart
 *   {"type":"path","ip":…,"maxGapMs":…,"lastOk":…,"reads":N,"failedReads":N,"abandoned":N,"failedLogins":N}
 *                                                    per path at stop (see PathCounts)
 *   {"type":"stopped","probes":N,"failures":N}
 *
 * Each path keeps one iSCSI session and sends READ CAPACITY (16) every intervalMs, like an
 * initiator that reconnects at once: a path is "stuck" when it has no session or its command has
 * gone unanswered for HEDGE_AFTER_MS; then one new session at a time is attempted (connect and
 * login allowed CONNECT_TIMEOUT_MS), RETRY_EVERY_MS after the previous attempt ended, so the
 * moment the path answers again — wherever it now lives — is seen within a few tens of ms, and a
 * slow answer still counts when it comes. What counts is the time between two answers. (More
 * attempts in flight were tried: hundreds of paths reconnecting that hard slow the source node's
 * CleanPath, which closes every connection of a path one tgtadm call at a time.)
 */
import { createInterface } from "node:readline";
import { IscsiSession } from "./iscsi-session.js";

interface WatchCommand {
  watch: { ip: string; iqn: string }[];
  intervalMs: number;
  initiator: string;
}

/**
 * Per path: answers (a command, or a new session's login with its first command); commands that
 * failed on the session in use (an error, a timeout, the target closing the connection); commands
 * left unanswered on a stuck session the prober replaced by a new one (slow, not refused); logins
 * that failed.
 */
interface PathCounts {
  reads: number;
  failedReads: number;
  abandoned: number;
  failedLogins: number;
}

const HEDGE_AFTER_MS = 50;
const RETRY_EVERY_MS = 20;
const MAX_ATTEMPTS = 1;
const COMMAND_TIMEOUT_MS = 2000;
const CONNECT_TIMEOUT_MS = 200;
const TICK_MS = 5;

const wall = (): number => performance.timeOrigin + performance.now();
const emit = (event: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify(event)}\n`);
};

let probes = 0;
let failures = 0;

class PathWatch {
  private session: IscsiSession | undefined;
  private probeStartedAt: number | undefined;
  private lastProbeAt = 0;
  private lastAttemptEndedAt = 0;
  private attempts = 0;
  private lastOk: number | undefined;
  private maxGapMs = 0;
  private readonly counts: PathCounts = { reads: 0, failedReads: 0, abandoned: 0, failedLogins: 0 };

  constructor(
    readonly ip: string,
    private readonly iqn: string,
    private readonly command: WatchCommand,
  ) {}

  tick(now: number): void {
    if (
      this.session !== undefined &&
      this.probeStartedAt === undefined &&
      now - this.lastProbeAt >= this.command.intervalMs
    ) {
      this.probe(this.session, now);
    }
    const stuck =
      this.session === undefined ||
      (this.probeStartedAt !== undefined && now - this.probeStartedAt > HEDGE_AFTER_MS);
    if (stuck && this.attempts < MAX_ATTEMPTS && now - this.lastAttemptEndedAt >= RETRY_EVERY_MS) {
      this.attempt();
    }
  }

  finish(): void {
    this.session?.close();
    this.session = undefined;
    emit({
      type: "path",
      ip: this.ip,
      maxGapMs: this.maxGapMs,
      lastOk: this.lastOk ?? null,
      ...this.counts,
    });
  }

  private probe(session: IscsiSession, now: number): void {
    this.probeStartedAt = now;
    this.lastProbeAt = now;
    session.readCapacity(COMMAND_TIMEOUT_MS).then(
      () => {
        this.counted("reads");
        if (session !== this.session) return;
        this.probeStartedAt = undefined;
        this.answered(wall());
      },
      () => {
        this.counted(session === this.session ? "failedReads" : "abandoned");
        session.close();
        if (session !== this.session) return;
        this.session = undefined;
        this.probeStartedAt = undefined;
      },
    );
  }

  private attempt(): void {
    this.attempts += 1;
    IscsiSession.open(this.ip, this.iqn, this.command.initiator, CONNECT_TIMEOUT_MS).then(
      (fresh) => {
        this.attempts -= 1;
        this.lastAttemptEndedAt = wall();
        this.counted("reads");
        const at = wall();
        this.answered(at);
        if (stopping) {
          fresh.close();
          return;
        }
        // The new session replaces a missing or stuck one; otherwise it is not needed.
        if (this.session === undefined || this.probeStartedAt !== undefined) {
          this.session?.close();
          this.session = fresh;
          this.probeStartedAt = undefined;
          this.lastProbeAt = at;
        } else {
          fresh.close();
        }
      },
      () => {
        this.attempts -= 1;
        this.lastAttemptEndedAt = wall();
        this.counted("failedLogins");
      },
    );
  }

  private counted(what: keyof PathCounts): void {
    probes += 1;
    if (what !== "reads") failures += 1;
    this.counts[what] += 1;
  }

  private answered(at: number): void {
    if (this.lastOk === undefined) {
      emit({ type: "ready", ip: this.ip, at });
      this.lastOk = at;
      return;
    }
    if (at <= this.lastOk) return;
    const gap = at - this.lastOk;
    if (gap > this.maxGapMs) this.maxGapMs = gap;
    if (gap > Math.max(100, 2 * this.command.intervalMs))
      emit({ type: "gap", ip: this.ip, from: this.lastOk, to: at });
    this.lastOk = at;
  }
}

let stopping = false;
const watches: PathWatch[] = [];
const ticker = setInterval(() => {
  const now = wall();
  for (const watch of watches) watch.tick(now);
}, TICK_MS);

const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  const message = JSON.parse(line) as Partial<WatchCommand> & { stop?: boolean };
  if (message.stop === true) {
    stopping = true;
    clearInterval(ticker);
    for (const watch of watches) watch.finish();
    emit({ type: "stopped", probes, failures });
    process.exit(0);
  }
  if (Array.isArray(message.watch)) {
    const command: WatchCommand = {
      watch: message.watch,
      intervalMs: message.intervalMs ?? 20,
      initiator: message.initiator ?? "iqn.2016-05.org.sanpath.dev:prober",
    };
    for (const target of command.watch) watches.push(new PathWatch(target.ip, target.iqn, command));
  }
});
lines.on("close", () => {
  process.exit(0);
});
