/**
 * `Tgtadm` over tgtd's control socket, without a tgtadm process: each call connects, sends the
 * request tgtadm would send (tgt-mgmt-args.ts, tgt-mgmt-protocol.ts), reads the answer and closes.
 * tgtd serves one request per connection, so nothing is kept open and a restarted tgtd is simply
 * reached by the next call.
 *
 * The socket is the file `/var/run/tgtd/socket.<control port>` (not an abstract name: it is the
 * same in every network namespace; tgtd's `-C` default is 0, and TGT_IPC_SOCKET in tgtd's
 * environment replaces `/var/run/tgtd/socket`). Beside it tgtd holds a lock on
 * `socket.<control port>.lock` (tgt-daemon-sockets.ts finds tgtd's PID by it). tgtd answers only
 * peers of its own uid and gid.
 *
 * A connect that finds tgtd's accept queue full (32 waiting) is tried again until the deadline, as
 * tgtadm's blocking connect waits.
 *
 * Results and failures are those of the command runner running tgtadm, so the driver cannot tell
 * the channels apart: `--op show` gives tgtadm's stdout text; tgtd's refusal is a
 * CommandFailedError (failure "exit", exit code 22 = EINVAL as tgtadm's, stderr tgtadm's words for
 * it, e.g. "can't find the target"); a tgtd that is not there (no socket, connection refused) or
 * that hangs up before answering is a failure "exit" too, with the errno as exit code (tgtadm
 * exits with it); the deadline is a failure "timeout", an abort "cancelled". The parameters (a
 * CHAP password among them) are never in an error or a log: commands are rendered with secrets
 * masked.
 */
import { connect, type Socket } from "node:net";
import { constants } from "node:os";
import { join } from "node:path";
import {
  CommandFailedError,
  renderCommand,
  type CommandArg,
  type CommandFailure,
  type CommandResult,
} from "../exec/command-runner.js";
import type { Logger } from "../log/logger.js";
import type { Tgtadm } from "./tgt-admin.js";
import { TgtMgmtArgsError, tgtMgmtRequestOf } from "./tgt-mgmt-args.js";
import {
  decodeTgtMgmtResponseHeader,
  encodeTgtMgmtRequest,
  TGT_RESPONSE_HEADER_BYTES,
  tgtMgmtErrorText,
  tgtMgmtResponseText,
} from "./tgt-mgmt-protocol.js";

const TGT_IPC_DIR = "/var/run/tgtd";
/** tgtadm's exit code when tgtd refuses a request. */
const TGTADM_REFUSED_EXIT_CODE = 22;
/** More than any listing of a node's targets; a longer answer is not tgtd's. */
const MAX_RESPONSE_BYTES = 256 * 1024 * 1024;

/** tgtd's control socket for control port `controlPort` (tgtd's default is 0). */
export function tgtdSocketPath(controlPort = 0): string {
  return join(TGT_IPC_DIR, `socket.${controlPort}`);
}

/** The file tgtd locks while it serves `socketPath`. */
export function tgtdLockPath(socketPath: string): string {
  return `${socketPath}.lock`;
}

export interface TgtMgmtSocketOptions {
  /** The control socket (tgtdSocketPath of the control port). */
  socketPath: string;
  /** Per call, from connecting to the last byte of the answer. */
  timeoutMs: number;
  /** Each request is logged at debug level, secrets masked. */
  logger?: Logger | undefined;
}

/** A `Tgtadm` that talks to tgtd over its control socket (see the file header). */
export function socketTgtadm(options: TgtMgmtSocketOptions): Tgtadm {
  return (args, callOptions) => tgtMgmtCall(options, args, callOptions.signal);
}

async function tgtMgmtCall(
  options: TgtMgmtSocketOptions,
  args: readonly CommandArg[],
  signal: AbortSignal | undefined,
): Promise<CommandResult> {
  const command = renderCommand(`tgtd-socket:${options.socketPath}`, ["--lld", "iscsi", ...args]);
  let request: Buffer;
  try {
    request = encodeTgtMgmtRequest(tgtMgmtRequestOf(args));
  } catch (error) {
    if (!(error instanceof TgtMgmtArgsError) && !(error instanceof RangeError)) throw error;
    throw failed(command, "spawn", undefined, error.message);
  }
  const started = performance.now();
  try {
    return await exchange(options, command, request, signal);
  } finally {
    options.logger?.debug(
      { command, durationMs: Math.round(performance.now() - started) },
      "tgtd request finished",
    );
  }
}

function exchange(
  options: TgtMgmtSocketOptions,
  command: string,
  request: Buffer,
  signal: AbortSignal | undefined,
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(failed(command, "cancelled", undefined, ""));
      return;
    }
    const chunks: Buffer[] = [];
    let received = 0;
    let expected: number | undefined;
    let connected = false;
    let settled = false;
    let socket: Socket | undefined;
    let retry: NodeJS.Timeout | undefined;
    let busyRetries = 0;

    const settle = (outcome: () => void): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(retry);
      signal?.removeEventListener("abort", onAbort);
      socket?.destroy();
      outcome();
    };
    const fail = (error: CommandFailedError): void => {
      settle(() => {
        reject(error);
      });
    };
    const onAbort = (): void => {
      fail(failed(command, "cancelled", undefined, ""));
    };
    const timer = setTimeout(() => {
      const said = connected ? "no answer from tgtd" : "tgtd did not accept the connection";
      fail(failed(command, "timeout", undefined, said, options.timeoutMs));
    }, options.timeoutMs);
    signal?.addEventListener("abort", onAbort, { once: true });

    /** Settles once the whole answer is in (or tgtd hung up before it was). */
    const answerIfComplete = (hungUp: boolean): void => {
      const bytes = Buffer.concat(chunks, received);
      if (expected === undefined && received >= TGT_RESPONSE_HEADER_BYTES) {
        const header = decodeTgtMgmtResponseHeader(bytes);
        if (header.length < TGT_RESPONSE_HEADER_BYTES || header.length > MAX_RESPONSE_BYTES) {
          fail(failed(command, "exit", errnoOf("EPROTO"), `tgtd answered a length of ${header.length}`));
          return;
        }
        if (header.error !== 0) {
          fail(failed(command, "exit", TGTADM_REFUSED_EXIT_CODE, tgtMgmtErrorText(header.error)));
          return;
        }
        expected = header.length;
      }
      if (expected !== undefined && received >= expected) {
        const stdout = tgtMgmtResponseText(bytes.subarray(TGT_RESPONSE_HEADER_BYTES, expected));
        settle(() => {
          resolve({ stdout, stderr: "", exitCode: 0 });
        });
      } else if (hungUp) {
        fail(failed(command, "exit", errnoOf("ECONNRESET"), "tgtd closed the connection before its answer"));
      }
    };

    const attempt = (): void => {
      const current = connect({ path: options.socketPath });
      socket = current;
      current.on("connect", () => {
        connected = true;
        current.write(request);
      });
      current.on("data", (chunk: Buffer) => {
        chunks.push(chunk);
        received += chunk.length;
        answerIfComplete(false);
      });
      current.on("end", () => {
        answerIfComplete(true);
      });
      current.on("close", () => {
        if (socket === current) answerIfComplete(true);
      });
      current.on("error", (error: NodeJS.ErrnoException) => {
        const code = error.code ?? "EIO";
        if (!connected && code === "EAGAIN") {
          // tgtd's accept queue (32) is full: a blocking connect, as tgtadm's, would wait; so
          // does this, until the deadline.
          socket = undefined;
          current.destroy();
          busyRetries += 1;
          retry = setTimeout(attempt, Math.min(2 ** busyRetries, 50));
          return;
        }
        const said = connected
          ? `the connection to tgtd failed: ${code}`
          : `can't connect to tgtd at ${options.socketPath}: ${code}`;
        fail(failed(command, "exit", errnoOf(code), said));
      });
    };
    attempt();
  });
}

/** The errno number of `code` (tgtadm exits with it), EIO's for a code Node does not know. */
function errnoOf(code: string): number {
  const errno: Readonly<Record<string, number>> = constants.errno;
  return errno[code] ?? constants.errno.EIO;
}

function failed(
  command: string,
  failure: CommandFailure,
  exitCode: number | undefined,
  stderr: string,
  timeoutMs?: number,
): CommandFailedError {
  return new CommandFailedError({
    command,
    failure,
    exitCode,
    stderr,
    stdout: "",
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
  });
}
