/**
 * How every part of the tgt driver asks tgtd for something: a `Tgtadm`, which takes tgtadm's
 * arguments and gives tgtadm's output and failures, whichever channel carries the request (tgtd's
 * control socket, tgt-mgmt-socket.ts, or a tgtadm process, boundTgtadm here); and the one request
 * those parts share: setting a target's state.
 */
import type { CommandArg, CommandResult, CommandRunner } from "../exec/command-runner.js";
import type { DriverCallOptions } from "./target-driver.js";
import type { TgtTarget } from "./tgt-show.js";

/** One request to the driver's tgtd, in tgtadm's arguments (without `-C` and `--lld`). */
export type Tgtadm = (args: readonly CommandArg[], options: DriverCallOptions) => Promise<CommandResult>;

/** `tgtadm` through `runner`, at tgtd's control port (tgt's default when unset). */
export function boundTgtadm(
  runner: CommandRunner,
  controlPort: number | undefined,
  timeoutMs: number,
): Tgtadm {
  const control = controlPort === undefined ? [] : ["-C", String(controlPort)];
  return (args, options) =>
    runner.run("tgtadm", [...control, "--lld", "iscsi", ...args], {
      timeoutMs,
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
}

/** Sets the target `ready` (it accepts logins) or `offline` (it refuses them), and the model with it. */
export async function setTargetState(
  tgtadm: Tgtadm,
  target: TgtTarget,
  state: "ready" | "offline",
  options: DriverCallOptions,
): Promise<void> {
  await tgtadm(
    ["--op", "update", "--mode", "target", "--tid", String(target.tid), "--name", "state", "--value", state],
    options,
  );
  target.state = state;
}
