/** ExecaCommandRunner against real (harmless) commands, and the RecordingRunner's contract. */
import { describe, expect, it } from "vitest";
import { CommandFailedError, secret } from "../../src/exec/command-runner.js";
import { ExecaCommandRunner } from "../../src/exec/execa-runner.js";
import { RecordingRunner } from "../../src/exec/recording-runner.js";
import { rejectionAs } from "../support/thrown.js";

const SECRET = "hunter2-very-secret";

describe("ExecaCommandRunner", () => {
  const runner = new ExecaCommandRunner({ defaultTimeoutMs: 5000 });

  it("returns stdout, stderr and the exit code; feeds stdin", async () => {
    const result = await runner.run("bash", ["-c", 'read line; echo "out:$line"; echo err >&2'], {
      input: "hi\n",
    });
    expect(result).toEqual({ stdout: "out:hi\n", stderr: "err\n", exitCode: 0 });
  });

  it("accepts listed exit codes as answers", async () => {
    const result = await runner.run("bash", ["-c", "exit 3"], { acceptExitCodes: [3] });
    expect(result.exitCode).toBe(3);
  });

  it("turns a non-zero exit into DRIVER_FAILED naming the command and stderr, with secrets masked", async () => {
    const error = await rejectionAs(
      CommandFailedError,
      runner.run("bash", ["-c", 'echo "bad password $1" >&2; exit 4', "script", secret(SECRET)]),
    );
    expect(error).toMatchObject({ kind: "internal", reason: "DRIVER_FAILED", failure: "exit", exitCode: 4 });
    expect(error.message).toContain("exit code 4");
    expect(error.message).toContain("bash -c");
    expect(error.message).toContain("bad password ***");
    expect(`${error.message} ${error.command} ${error.stderr} ${String(error.cause)}`).not.toContain(SECRET);
  });

  it("masks a secret passed through the environment", async () => {
    const error = await rejectionAs(
      CommandFailedError,
      runner.run("bash", ["-c", 'echo "got $PASS" >&2; exit 1'], { env: { PASS: SECRET } }),
    );
    expect(error.stderr).toBe("got ***");
    expect(error.message).not.toContain(SECRET);
  });

  it("reports a missing command, a timeout and a cancellation with their own kinds", async () => {
    expect(await rejectionAs(CommandFailedError, runner.run("no-such-command-sanpath", []))).toMatchObject({
      failure: "not_found",
      kind: "internal",
    });
    expect(
      await rejectionAs(CommandFailedError, runner.run("sleep", ["5"], { timeoutMs: 100 })),
    ).toMatchObject({
      failure: "timeout",
      kind: "deadline_exceeded",
    });
    const controller = new AbortController();
    const pending = runner.run("sleep", ["5"], { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    expect(await rejectionAs(CommandFailedError, pending)).toMatchObject({
      failure: "cancelled",
      kind: "cancelled",
    });
  });

  it("cancels every command when the runner's own signal aborts", async () => {
    const lifetime = new AbortController();
    const scoped = new ExecaCommandRunner({ signal: lifetime.signal });
    const pending = scoped.run("sleep", ["5"]);
    setTimeout(() => lifetime.abort(), 50);
    expect(await rejectionAs(CommandFailedError, pending)).toMatchObject({ failure: "cancelled" });
  });

  it("prefixes `ip netns exec NS` for a namespace-bound runner", async () => {
    const error = await rejectionAs(
      CommandFailedError,
      runner.inNetns("sp-no-such-ns").run("true", [], { timeoutMs: 5000 }),
    );
    expect(error.command).toBe("ip netns exec sp-no-such-ns true");
  });
});

describe("RecordingRunner", () => {
  it("records calls with secrets revealed in args and masked in the command, and answers from scripts", async () => {
    const runner = new RecordingRunner()
      .when(/^tool show/, { stdout: "listing\n" })
      .when("tool fail", { exitCode: 2, stderr: "no" });
    expect((await runner.run("tool", ["show", "x"])).stdout).toBe("listing\n");
    expect((await runner.run("tool", ["set", secret(SECRET)])).stdout).toBe("");
    expect(runner.calls[1]?.args).toEqual(["set", SECRET]);
    expect(runner.commands()).toEqual(["tool show x", "tool set ***"]);
    expect(await rejectionAs(CommandFailedError, runner.run("tool", ["fail"]))).toMatchObject({
      exitCode: 2,
      stderr: "no",
    });
    expect((await runner.run("tool", ["fail"], { acceptExitCodes: [2] })).exitCode).toBe(2);
  });
});
