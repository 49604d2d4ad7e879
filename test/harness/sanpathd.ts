/**
 * A real sanpathd for integration tests: `node dist/src/server/main.js` as a child process.
 *
 * Why the built file and not a TypeScript runner: it is what operators run (bin: sanpathd),
 * signals reach the daemon itself (no wrapper process in between), and it starts in ~0.3 s.
 * So tests need `npm run build` first; `npm run check` (the CI command) builds before vitest.
 * A missing build throws with that advice; sources newer than their build print a warning.
 *
 *   const daemon = await startSanpathd({ name: "my-test", consulAddress: consul.agent.httpAddress });
 *   … daemon.address …
 *   const { code } = await daemon.stop();   // SIGTERM by PID, SIGKILL after the timeout
 */
import { spawn } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { execa } from "execa";
import { HealthClient, type ServingStatusName } from "../../src/cli/health-client.js";
import { projectRoot } from "../../src/util/project-root.js";

export interface SanpathdOptions {
  /** Names the temp dir and, unless set otherwise, the node (with the test's PID). */
  name: string;
  /** host:port of a Consul agent (not needed with dev). */
  consulAddress?: string;
  /** Runs `sanpathd --dev` (its own Consul agent and temp data). */
  dev?: boolean;
  /** Default "127.0.0.1:0": the kernel picks a free port, read back from the log. */
  listen?: string;
  /** Extra environment (SANPATH_*); the test's own SANPATH_* variables are not passed on. */
  env?: Record<string, string>;
  /** Written to <dir>/sanpathd.json and passed with --config. */
  config?: Record<string, unknown>;
  args?: string[];
  /** "serving" (default): wait until grpc.health.v1 says SERVING; "listening": until bound. */
  waitFor?: "serving" | "listening";
  readyTimeoutMs?: number;
}

export interface ExitResult {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface StopResult extends ExitResult {
  /** It had to be killed with SIGKILL after the timeout. */
  killed: boolean;
  /** A --dev Consul agent outlived sanpathd and was killed by its PID. */
  orphanKilled: boolean;
}

export interface SanpathdProcess {
  readonly pid: number;
  /** host:port the gRPC server is bound to. */
  readonly address: string;
  /** Temp dir with stdout.log (the JSON log), stderr.log and the config file. */
  readonly dir: string;
  readonly exited: Promise<ExitResult>;
  /** PID of the Consul dev agent (--dev only), from the "consul dev agent started" log line. */
  consulPid(): number | undefined;
  stdout(): string;
  stderr(): string;
  /** Every stdout line parsed as JSON; throws on a line that is not JSON. */
  logLines(): Record<string, unknown>[];
  health(service?: string): Promise<ServingStatusName>;
  waitForHealth(status: ServingStatusName, service?: string, timeoutMs?: number): Promise<void>;
  /** SIGTERM by PID; SIGKILL after `timeoutMs`. Then removes the temp dir unless `keepDir`. */
  stop(options?: { timeoutMs?: number; keepDir?: boolean }): Promise<StopResult>;
}

/** dist/src/server/main.js; throws when it was not built. */
export function sanpathdEntry(): string {
  return builtEntry("dist/src/server/main.js");
}

/** dist/src/cli/main.js; throws when it was not built. */
export function sanpathCliEntry(): string {
  return builtEntry("dist/src/cli/main.js");
}

/**
 * Tests run sanpathd with auth off unless they pass SANPATH_AUTH_MODE (or auth.mode in `config`,
 * which this env would override: pass it in `env` instead). The security tests turn it on.
 */
const TEST_AUTH_DEFAULTS: Readonly<Record<string, string>> = { SANPATH_AUTH_MODE: "none" };

/**
 * These daemons have no tgtd of their own: with the data-path probe on, each would find its target
 * daemon silent, degrade and report NodeService NOT_SERVING. Tests of the data path run whole
 * namespace clusters (test/harness/cluster-ns.ts) instead.
 */
const TEST_DATA_PATH_DEFAULTS: Readonly<Record<string, string>> = {
  SANPATH_DATA_PATH_PROBE_INTERVAL_MS: "0",
};

const TLS_MATERIAL_ENV = ["SANPATH_TLS_CA", "SANPATH_TLS_CERT", "SANPATH_TLS_KEY"] as const;

/**
 * Plaintext must be asked for (tls.plaintext): tests ask for it unless they give TLS material (in
 * `env` or the config file's "tls" section), set SANPATH_TLS_PLAINTEXT themselves, or run --dev
 * (which implies it).
 */
function testTransportDefaults(
  env: Readonly<Record<string, string>>,
  config?: Record<string, unknown>,
  dev = false,
): Record<string, string> {
  const tlsGiven =
    dev ||
    TLS_MATERIAL_ENV.some((name) => env[name] !== undefined) ||
    (config !== undefined && "tls" in config) ||
    "SANPATH_TLS_PLAINTEXT" in env;
  return tlsGiven ? {} : { SANPATH_TLS_PLAINTEXT: "true" };
}

export async function startSanpathd(options: SanpathdOptions): Promise<SanpathdProcess> {
  const entry = sanpathdEntry();
  const dir = mkdtempSync(join(tmpdir(), `sanpathd-${options.name}-${process.pid}-`));
  const args = [entry];
  if (options.dev === true) args.push("--dev");
  args.push("--listen", options.listen ?? "127.0.0.1:0");
  if (options.config !== undefined) {
    const file = join(dir, "sanpathd.json");
    writeFileSync(file, JSON.stringify(options.config, null, 2));
    args.push("--config", file);
  }
  args.push(...(options.args ?? []));
  const env: NodeJS.ProcessEnv = {
    ...environmentWithoutSanpath(),
    SANPATH_NODE_NAME: `${options.name}-${process.pid}`,
    SANPATH_DATA_DIR: dir,
    SANPATH_IMAGE_STORE: "file",
    SANPATH_SHUTDOWN_GRACE_MS: "3000",
    ...TEST_AUTH_DEFAULTS,
    ...TEST_DATA_PATH_DEFAULTS,
    ...testTransportDefaults(options.env ?? {}, options.config, options.dev),
    ...(options.consulAddress === undefined ? {} : { SANPATH_CONSUL_ADDRESS: options.consulAddress }),
    ...options.env,
  };

  const stdoutFile = join(dir, "stdout.log");
  const stderrFile = join(dir, "stderr.log");
  const stdoutFd = openSync(stdoutFile, "a");
  const stderrFd = openSync(stderrFile, "a");
  const child = (() => {
    try {
      return spawn(process.execPath, args, { env, stdio: ["ignore", stdoutFd, stderrFd] });
    } finally {
      closeSync(stdoutFd);
      closeSync(stderrFd);
    }
  })();
  const pid = child.pid;
  if (pid === undefined) throw new Error("sanpathd did not start (no pid)");
  let exitResult: ExitResult | undefined;
  const exited = new Promise<ExitResult>((resolve) => {
    child.once("exit", (code, signal) => {
      exitResult = { code, signal };
      resolve(exitResult);
    });
  });
  const killOnExit = (): void => {
    if (exitResult === undefined) child.kill("SIGKILL");
  };
  process.once("exit", killOnExit);

  const read = (file: string): string => (existsSync(file) ? readFileSync(file, "utf8") : "");
  const logLines = (): Record<string, unknown>[] =>
    read(stdoutFile)
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  const findLog = (message: string): Record<string, unknown> | undefined =>
    read(stdoutFile)
      .split("\n")
      .filter((line) => line.includes(`"msg":"${message}"`))
      .map((line) => JSON.parse(line) as Record<string, unknown>)[0];

  let healthClient: HealthClient | undefined;
  let address = "";
  const daemon: SanpathdProcess = {
    pid,
    get address() {
      return address;
    },
    dir,
    exited,
    consulPid() {
      const pidValue = findLog("consul dev agent started")?.consulPid;
      return typeof pidValue === "number" ? pidValue : undefined;
    },
    stdout: () => read(stdoutFile),
    stderr: () => read(stderrFile),
    logLines,
    health(service = "") {
      healthClient ??= new HealthClient(address);
      return healthClient.check(service, new Date(Date.now() + 2000));
    },
    async waitForHealth(status, service = "", timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      let last = "no answer";
      while (Date.now() < deadline) {
        if (exitResult !== undefined)
          throw new Error(`sanpathd exited (${JSON.stringify(exitResult)}):\n${read(stderrFile)}`);
        try {
          const now = await daemon.health(service);
          if (now === status) return;
          last = now;
        } catch (error) {
          last = error instanceof Error ? error.message : String(error);
        }
        await sleep(100);
      }
      throw new Error(
        `sanpathd health of "${service}" was not ${status} within ${timeoutMs} ms (last: ${last})`,
      );
    },
    async stop({ timeoutMs = 15_000, keepDir = false } = {}) {
      process.removeListener("exit", killOnExit);
      healthClient?.close();
      const consulPid = daemon.consulPid();
      let killed = false;
      if (exitResult === undefined) {
        process.kill(pid, "SIGTERM");
        const outcome = await Promise.race([exited, sleep(timeoutMs).then(() => undefined)]);
        if (outcome === undefined) {
          killed = true;
          process.kill(pid, "SIGKILL");
        }
      }
      const result = await exited;
      let orphanKilled = false;
      if (consulPid !== undefined && isAlive(consulPid)) {
        orphanKilled = true;
        process.kill(consulPid, "SIGKILL");
      }
      if (!keepDir) rmSync(dir, { recursive: true, force: true });
      return { ...result, killed, orphanKilled };
    },
  };

  try {
    address = await waitForListening(
      findLog,
      () => exitResult,
      () => read(stderrFile),
      options.readyTimeoutMs ?? 20_000,
    );
    if ((options.waitFor ?? "serving") === "serving") {
      await daemon.waitForHealth("SERVING", "", options.readyTimeoutMs ?? 20_000);
    }
  } catch (error) {
    await daemon.stop({ timeoutMs: 3000 });
    throw error;
  }
  return daemon;
}

/** Runs sanpathd to its end (bad configs, --print-config, --help). */
export async function runSanpathd(
  args: readonly string[],
  env: Record<string, string> = {},
  timeoutMs = 20_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const result = await execa(process.execPath, [sanpathdEntry(), ...args], {
    env: {
      ...environmentWithoutSanpath(),
      ...TEST_AUTH_DEFAULTS,
      ...testTransportDefaults(env, undefined, args.includes("--dev")),
      ...env,
    },
    extendEnv: false,
    reject: false,
    timeout: timeoutMs,
    cancelSignal: AbortSignal.timeout(timeoutMs + 1000),
  });
  return { code: result.exitCode ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/** Runs the `sanpath` CLI. */
export async function runSanpathCli(
  args: readonly string[],
  env: Record<string, string> = {},
  timeoutMs = 20_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const result = await execa(process.execPath, [sanpathCliEntry(), ...args], {
    env: { ...environmentWithoutSanpath(), ...env },
    extendEnv: false,
    reject: false,
    timeout: timeoutMs,
    cancelSignal: AbortSignal.timeout(timeoutMs + 1000),
  });
  return { code: result.exitCode ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/** `buf curl --protocol grpc --http2-prior-knowledge …` (reflection only, no proto files). */
export async function bufCurl(
  args: readonly string[],
  timeoutMs = 20_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const buf = join(projectRoot(), "node_modules", ".bin", "buf");
  const result = await execa(buf, ["curl", "--protocol", "grpc", "--http2-prior-knowledge", ...args], {
    reject: false,
    timeout: timeoutMs,
    cancelSignal: AbortSignal.timeout(timeoutMs + 1000),
  });
  return { code: result.exitCode ?? -1, stdout: result.stdout, stderr: result.stderr };
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function waitForListening(
  findLog: (message: string) => Record<string, unknown> | undefined,
  exitResult: () => ExitResult | undefined,
  stderr: () => string,
  timeoutMs: number,
): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const listening = findLog("gRPC server listening")?.listen;
    if (typeof listening === "string") return listening;
    const exit = exitResult();
    if (exit !== undefined)
      throw new Error(`sanpathd exited during start-up (${JSON.stringify(exit)}):\n${stderr()}`);
    await sleep(50);
  }
  throw new Error(`sanpathd did not listen within ${timeoutMs} ms:\n${stderr()}`);
}

function environmentWithoutSanpath(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith("SANPATH_")) env[key] = value;
  return env;
}

let staleWarned = false;

function builtEntry(path: string): string {
  const root = projectRoot();
  const entry = join(root, path);
  if (!existsSync(entry))
    throw new Error(`${path} is missing: run \`npm run build\` first (\`npm run check\` does)`);
  if (!staleWarned) {
    staleWarned = true;
    const stale = staleSources(root);
    if (stale.length > 0) {
      process.stderr.write(
        `warning: dist/ is older than ${stale.slice(0, 3).join(", ")}${stale.length > 3 ? " …" : ""}; run \`npm run build\`\n`,
      );
    }
  }
  return entry;
}

/** src/**\/*.ts files newer than their built .js. */
function staleSources(root: string): string[] {
  const stale: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts")) {
        const built = join(root, "dist", relative(root, path).replace(/\.ts$/, ".js"));
        if (!existsSync(built) || statSync(built).mtimeMs < statSync(path).mtimeMs)
          stale.push(relative(root, path));
      }
    }
  };
  walk(join(root, "src"));
  return stale;
}
