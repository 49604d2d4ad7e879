/**
 * Proof that a path serves: `iscsi-readcapacity16` from the dev cluster's client namespace logs in
 * at the path's IP and reads the LUN's capacity. And the cluster's view of who serves each path
 * (AssignmentService.ListPaths, with the IQN from the cluster settings).
 */
import { performance } from "node:perf_hooks";
import { setTimeout as sleep } from "node:timers/promises";
import type { ListPathsResponse } from "../gen/sanpath/v1/assignment.js";
import type { GetClusterSettingsResponse } from "../gen/sanpath/v1/cluster.js";
import { CommandFailedError, type CommandRunner } from "../exec/command-runner.js";
import type { NodeAdmin } from "./admin-client.js";

export const CLIENT_INITIATOR = "iqn.2016-05.org.sanpath.dev:client";

const ANY_EXIT = Array.from({ length: 255 }, (_, index) => index + 1);

export interface PathView {
  diskId: string;
  diskName: string;
  index: number;
  ip: string;
  iqn: string;
  /** "" when nobody serves it. */
  node: string;
}

export interface ReadResult {
  ok: boolean;
  /** The LUN's size, when it read. */
  bytes: number | undefined;
  /** Why not, when it did not (last line of the tool's output, or "timeout"). */
  problem: string;
  ms: number;
}

/** A read with the tool's whole output (stdout, then stderr), or why there is none. */
export interface ReadWithOutput extends ReadResult {
  output: string;
}

/** Who logs in: the initiator name (default CLIENT_INITIATOR) and CHAP credentials, if any. */
export interface ReadLogin {
  initiator?: string | undefined;
  user?: string | undefined;
  /** Passed through the environment, never on the command line. */
  secret?: string | undefined;
}

/** Every path of running disks and its node, as the cluster sees it. */
export async function listPaths(admin: NodeAdmin): Promise<PathView[]> {
  const [paths, settings] = await Promise.all([
    admin.call<ListPathsResponse>((md, opts, done) =>
      admin.assignment.listPaths({ diskName: "", ip: "", node: "" }, md, opts, done),
    ),
    admin.call<GetClusterSettingsResponse>((md, opts, done) =>
      admin.cluster.getClusterSettings({}, md, opts, done),
    ),
  ]);
  const iqnBase = settings.settings?.iqnBase ?? "";
  return paths.paths.map((path) => ({
    diskId: path.diskId,
    diskName: path.diskName,
    index: path.index,
    ip: path.ip,
    iqn: `${iqnBase}:${path.diskId}`,
    node: path.node,
  }));
}

/** One `iscsi-readcapacity16` at the path (no answer within `timeoutMs` is a failed read). */
export async function readCapacity(
  client: CommandRunner,
  path: Pick<PathView, "ip" | "iqn">,
  timeoutMs = 5000,
): Promise<ReadResult> {
  const { output: _output, ...read } = await readCapacityAs(client, path, {}, timeoutMs);
  return read;
}

/**
 * readCapacity logged in as `login` says (default: CLIENT_INITIATOR without CHAP), with the
 * tool's output (tests look at why a login failed).
 */
export async function readCapacityAs(
  client: CommandRunner,
  path: Pick<PathView, "ip" | "iqn">,
  login: ReadLogin,
  timeoutMs = 5000,
): Promise<ReadWithOutput> {
  const started = performance.now();
  const elapsed = (): number => Math.round(performance.now() - started);
  const user = login.user === undefined ? "" : `${login.user}@`;
  try {
    const result = await client.run(
      "iscsi-readcapacity16",
      ["-i", login.initiator ?? CLIENT_INITIATOR, "-s", `iscsi://${user}${path.ip}/${path.iqn}/1`],
      {
        timeoutMs,
        acceptExitCodes: ANY_EXIT,
        ...(login.secret === undefined ? {} : { env: { LIBISCSI_CHAP_PASSWORD: login.secret } }),
      },
    );
    const output = result.stdout + result.stderr;
    const bytes = /^(\d+)$/m.exec(result.stdout)?.[1];
    if (result.exitCode === 0 && bytes !== undefined)
      return { ok: true, bytes: Number(bytes), problem: "", output, ms: elapsed() };
    const said = `${result.stdout}\n${result.stderr}`.trim().split("\n").pop() ?? "";
    return {
      ok: false,
      bytes: undefined,
      problem: said === "" ? `exit ${result.exitCode}` : said,
      output,
      ms: elapsed(),
    };
  } catch (error) {
    // Nobody answers at the IP (e.g. the client still has the old node's MAC): no login.
    if (error instanceof CommandFailedError && error.failure === "timeout") {
      const problem = `no answer within ${timeoutMs} ms`;
      return { ok: false, bytes: undefined, problem, output: error.message, ms: elapsed() };
    }
    throw error;
  }
}

/**
 * Reads the path again and again until it reads or `timeoutMs` is over. `afterMs` counts from
 * `since` (default: the call), so a caller can measure from an event such as a kill.
 */
export async function waitUntilReadable(
  client: CommandRunner,
  path: Pick<PathView, "ip" | "iqn">,
  options: { timeoutMs: number; intervalMs?: number; attemptTimeoutMs?: number; since?: number },
): Promise<ReadResult & { afterMs: number; attempts: number }> {
  const since = options.since ?? performance.now();
  const deadline = performance.now() + options.timeoutMs;
  let attempts = 0;
  let last: ReadResult = { ok: false, bytes: undefined, problem: "not tried", ms: 0 };
  while (performance.now() < deadline) {
    attempts += 1;
    const remaining = Math.max(100, Math.min(options.attemptTimeoutMs ?? 2000, deadline - performance.now()));
    last = await readCapacity(client, path, remaining);
    if (last.ok) return { ...last, afterMs: Math.round(performance.now() - since), attempts };
    await sleep(options.intervalMs ?? 50);
  }
  return { ...last, afterMs: Math.round(performance.now() - since), attempts };
}

/** Runs `work` over `items` with at most `limit` in flight; results in input order. */
export async function mapLimited<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<R>,
): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next;
      next += 1;
      results[index] = await work(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
