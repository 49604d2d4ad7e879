/**
 * PathSetup over the real tgt and ip drivers on scripted commands: the set-up order (target, IP,
 * portal, then the gratuitous ARP) and configure answering while arping still runs. A target
 * deleted behind the drivers' back is in test/integration/iscsi-tgt.test.ts (real tgtd).
 */
import { describe, expect, it } from "vitest";
import { localPath, TEST_IQN } from "../support/local-path.js";
import {
  CommandFailedError,
  renderCommand,
  type CommandArg,
  type CommandResult,
  type CommandRunner,
  type RunOptions,
} from "../../src/exec/command-runner.js";
import { RecordingRunner } from "../../src/exec/recording-runner.js";
import { TgtDriver } from "../../src/iscsi/tgt-driver.js";
import { IpDriver } from "../../src/net/ip-driver.js";
import { PathSetup } from "../../src/node/path-setup.js";

const IQN = TEST_IQN;
const PATH = localPath();
const SPEC = {
  iqn: IQN,
  backing: { kind: "file" as const, path: "/srv/disk" },
  acl: { allInitiators: true, initiatorIqns: [] },
};
const NO_ADDRESSES = JSON.stringify([{ ifname: "eth1", addr_info: [] }]);

/** A RecordingRunner whose arping runs until its signal aborts, like the real one waiting its interval. */
class SlowArping implements CommandRunner {
  readonly log: string[] = [];
  arpingRunning = 0;

  constructor(private readonly others: RecordingRunner) {}

  run(file: string, args: readonly CommandArg[], options: RunOptions = {}): Promise<CommandResult> {
    const command = renderCommand(file, args);
    this.log.push(command);
    if (file !== "arping") return this.others.run(file, args, options);
    this.arpingRunning += 1;
    return new Promise((_resolve, reject) => {
      options.signal?.addEventListener(
        "abort",
        () => {
          this.arpingRunning -= 1;
          reject(
            new CommandFailedError({
              command,
              failure: "cancelled",
              exitCode: undefined,
              stdout: "",
              stderr: "",
            }),
          );
        },
        { once: true },
      );
    });
  }
}

describe("PathSetup", () => {
  it("sets up target, IP, portal, then starts the ARP and answers without waiting for arping to exit", async () => {
    const scripted = new RecordingRunner().when("ip -j addr show", { stdout: NO_ADDRESSES });
    const runner = new SlowArping(scripted);
    const network = new IpDriver({ runner });
    const setup = new PathSetup(new TgtDriver({ runner, channel: "tgtadm" }), network);

    await setup.configure(PATH, SPEC, AbortSignal.timeout(10_000));

    const order = runner.log.filter(
      (command) => !command.includes("--op show") && command !== "ip -j addr show",
    );
    expect(order).toEqual([
      `tgtadm --lld iscsi --op new --mode target --tid 1 --targetname ${IQN}`,
      "tgtadm --lld iscsi --op update --mode target --tid 1 --name state --value offline",
      "tgtadm --lld iscsi --op new --mode logicalunit --tid 1 --lun 1 --bstype rdwr --backing-store /srv/disk",
      "tgtadm --lld iscsi --op bind --mode target --tid 1 --initiator-address ALL",
      "ip addr add 198.51.100.50/24 dev eth1",
      "tgtadm --lld iscsi --op new --mode portal --param portal=198.51.100.50:3260",
      "tgtadm --lld iscsi --op update --mode target --tid 1 --name state --value ready",
      "arping -q -U -c 1 -I eth1 198.51.100.50",
    ]);
    // configure has answered; arping is still running (its ARP went out when it started).
    expect(runner.arpingRunning).toBe(1);
    await setup.close();
    expect(runner.arpingRunning).toBe(0);
  });
});
