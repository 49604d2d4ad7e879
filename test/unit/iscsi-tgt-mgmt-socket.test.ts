/**
 * The socket channel against a stand-in for tgtd's control socket (a unix socket server in a
 * temporary folder that reads one request per connection, as tgtd does): answers, refusals,
 * deadlines, hang-ups and secrets. Against the real tgtd: test/integration/iscsi-tgt-mgmt-socket.test.ts.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CommandFailedError, failedWith, secret } from "../../src/exec/command-runner.js";
import { RecordingRunner } from "../../src/exec/recording-runner.js";
import { TgtDriver } from "../../src/iscsi/tgt-driver.js";
import { tgtMgmtRequestOf } from "../../src/iscsi/tgt-mgmt-args.js";
import { encodeTgtMgmtRequest } from "../../src/iscsi/tgt-mgmt-protocol.js";
import { socketTgtadm, tgtdLockPath, tgtdSocketPath } from "../../src/iscsi/tgt-mgmt-socket.js";
import { rejectionAs } from "../support/thrown.js";

type Answer = (request: Buffer, socket: Socket) => void;

/** A tgtd stand-in: collects each connection's request, then lets `answer` reply. */
class FakeTgtd {
  readonly requests: Buffer[] = [];
  private server: Server | undefined;
  private readonly open = new Set<Socket>();
  constructor(
    readonly path: string,
    public answer: Answer,
  ) {}

  async listen(): Promise<void> {
    const server = createServer((socket) => {
      this.open.add(socket);
      socket.on("close", () => this.open.delete(socket));
      let bytes = Buffer.alloc(0);
      socket.on("data", (chunk: Buffer) => {
        bytes = Buffer.concat([bytes, chunk]);
        if (bytes.length >= 120 && bytes.length >= bytes.readUInt32LE(72)) {
          this.requests.push(bytes);
          this.answer(bytes, socket);
        }
      });
      socket.on("error", () => undefined);
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(this.path, resolve));
  }

  async close(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    if (server !== undefined) {
      for (const socket of this.open) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }
}

function response(error: number, text?: string): Buffer {
  const body = text === undefined ? Buffer.alloc(0) : Buffer.from(`${text}\0`);
  const header = Buffer.alloc(8);
  header.writeUInt32LE(error, 0);
  header.writeUInt32LE(8 + body.length, 4);
  return Buffer.concat([header, body]);
}

const reply =
  (bytes: Buffer): Answer =>
  (_request, socket) => {
    socket.end(bytes);
  };

let dir = "";
let tgtd: FakeTgtd;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "sanpath-tgt-mgmt-"));
  tgtd = new FakeTgtd(join(dir, "socket.0"), reply(response(0)));
  await tgtd.listen();
});

afterEach(async () => {
  await tgtd.close();
  rmSync(dir, { recursive: true, force: true });
});

const channel = (timeoutMs = 2000) => socketTgtadm({ socketPath: tgtd.path, timeoutMs });

describe("tgtd's control socket", () => {
  it("is /var/run/tgtd/socket.<control port>, its lock file beside it", () => {
    expect(tgtdSocketPath()).toBe("/var/run/tgtd/socket.0");
    expect(tgtdSocketPath(4242)).toBe("/var/run/tgtd/socket.4242");
    expect(tgtdLockPath(tgtdSocketPath(4242))).toBe("/var/run/tgtd/socket.4242.lock");
  });
});

describe("socketTgtadm", () => {
  it("sends the request tgtadm would send and gives the answer's text as stdout", async () => {
    const listing = "Portal: 198.51.100.50:3260,1\nPortal: 198.51.100.51:3260,1\n";
    tgtd.answer = reply(response(0, listing));
    const args = ["--op", "show", "--mode", "portal"];
    expect(await channel()(args, {})).toEqual({ stdout: listing, stderr: "", exitCode: 0 });
    expect(tgtd.requests).toEqual([encodeTgtMgmtRequest(tgtMgmtRequestOf(args))]);
  });

  it("reads an answer that comes in pieces, and an empty one", async () => {
    const listing = "Target 1: iqn.x\n".repeat(5000);
    tgtd.answer = (_request, socket) => {
      const bytes = response(0, listing);
      void (async () => {
        for (let at = 0; at < bytes.length; at += 7000) {
          socket.write(bytes.subarray(at, at + 7000));
          await sleep(2);
        }
        socket.end();
      })();
    };
    expect((await channel()(["--op", "show", "--mode", "target"], {})).stdout).toBe(listing);
    tgtd.answer = reply(response(0));
    expect((await channel()(["--op", "show", "--mode", "account"], {})).stdout).toBe("");
  });

  it("turns a refusal into tgtadm's failure: exit code 22, tgtadm's words on stderr", async () => {
    tgtd.answer = reply(response(4));
    const error = await rejectionAs(
      CommandFailedError,
      channel()(["--op", "delete", "--force", "--mode", "target", "--tid", "9"], {}),
    );
    expect(error).toMatchObject({
      failure: "exit",
      exitCode: 22,
      stderr: "can't find the target",
      kind: "internal",
    });
    expect(error.command).toContain("--op delete --force --mode target --tid 9");
    expect(failedWith(error, /can't find the target/)).toBe(true);
  });

  it("never shows a CHAP secret, in the message, the command or stderr", async () => {
    tgtd.answer = reply(response(14));
    const error = await rejectionAs(
      CommandFailedError,
      channel()(
        ["--op", "new", "--mode", "account", "--user", "u1", "--password", secret("Sup3rS3cret!")],
        {},
      ),
    );
    expect(tgtd.requests[0]?.toString("latin1")).toContain("user=u1,password=Sup3rS3cret!\0");
    expect(error.stderr).toBe("this account already exists");
    const shown = JSON.stringify({ message: error.message, command: error.command, stderr: error.stderr });
    expect(shown).not.toContain("Sup3rS3cret");
    expect(error.command).toContain("--password ***");
  });

  it("one connection per request: tgtd stopped and started again is reached by the next call", async () => {
    await channel()(["--op", "show", "--mode", "target"], {});
    await channel()(["--op", "show", "--mode", "target"], {});
    expect(tgtd.requests).toHaveLength(2);
    await tgtd.close();
    const down = await rejectionAs(CommandFailedError, channel()(["--op", "show", "--mode", "target"], {}));
    expect(down).toMatchObject({ failure: "exit", exitCode: 2 });
    expect(down.stderr).toContain("can't connect to tgtd");
    await tgtd.listen();
    expect(await channel()(["--op", "show", "--mode", "target"], {})).toMatchObject({ exitCode: 0 });
  });

  it("a tgtd that hangs up before its whole answer is a failure, not an empty success", async () => {
    tgtd.answer = (_request, socket) => {
      socket.end(response(0, "Target 1: iqn.x\n").subarray(0, 12));
    };
    const cut = await rejectionAs(CommandFailedError, channel()(["--op", "show", "--mode", "target"], {}));
    expect(cut).toMatchObject({ failure: "exit", exitCode: 104 });
    tgtd.answer = (_request, socket) => {
      socket.end();
    };
    const silent = await rejectionAs(CommandFailedError, channel()(["--op", "show", "--mode", "target"], {}));
    expect(silent.failure).toBe("exit");
  });

  it("keeps its deadline when tgtd does not answer, and stops at once when the caller aborts", async () => {
    tgtd.answer = () => undefined;
    const started = performance.now();
    const late = await rejectionAs(
      CommandFailedError,
      channel(150)(["--op", "show", "--mode", "target"], {}),
    );
    expect(late).toMatchObject({ failure: "timeout", kind: "deadline_exceeded" });
    expect(late.message).toContain("150 ms");
    expect(performance.now() - started).toBeLessThan(1000);

    const abort = new AbortController();
    const call = channel(10_000)(["--op", "show", "--mode", "target"], { signal: abort.signal });
    await sleep(50);
    abort.abort();
    expect(await rejectionAs(CommandFailedError, call)).toMatchObject({
      failure: "cancelled",
      kind: "cancelled",
    });
    const already = await rejectionAs(
      CommandFailedError,
      channel()(["--op", "show", "--mode", "target"], { signal: AbortSignal.abort() }),
    );
    expect(already.failure).toBe("cancelled");
  });

  it("refuses an argument list it cannot send without connecting", async () => {
    const error = await rejectionAs(
      CommandFailedError,
      channel()(["--op", "show", "--mode", "nonsense"], {}),
    );
    expect(error).toMatchObject({ failure: "spawn", kind: "internal" });
    expect(tgtd.requests).toHaveLength(0);
  });
});

describe("TgtDriver's default channel", () => {
  it("is tgtd's control socket: reading tgtd and dropping its wildcard listener start no process", async () => {
    tgtd.answer = (request, socket) => {
      const shown = request.readUInt32LE(4) === 2 && request.readUInt32LE(0) === 3;
      socket.end(response(0, shown ? "Portal: 0.0.0.0:3260,1\nPortal: 198.51.100.50:3260,1\n" : undefined));
    };
    const runner = new RecordingRunner();
    const driver = new TgtDriver({ runner, socketPath: tgtd.path });
    expect(driver.channel).toBe("socket");
    await driver.prepare();
    expect(runner.commands()).toEqual([]);
    expect(tgtd.requests).toHaveLength(4);
    expect(tgtd.requests[3]?.subarray(120).toString("latin1")).toBe("portalOps portal=0.0.0.0:3260,\0");
    expect(await driver.listPortals()).toEqual([{ ip: "198.51.100.50", port: 3260, iqns: [] }]);
  });
});
