import { execa, type ResultPromise } from "execa";
import { errorMessage } from "../errors/sanpath-error.js";
import type { Logger } from "../log/logger.js";
import { isAborted } from "../util/abort.js";
import { jitteredBackoffMs, pause } from "../util/pause.js";
import { addressChangeOf, type AddressChange, type AddressWatch } from "./address-watch.js";

export interface IpMonitorAddressWatchOptions {
  /** Watch this network namespace (`ip -n`); default the process's own. */
  netns?: string;
  logger?: Logger;
}

/**
 * AddressWatch over `ip -o monitor address`: a long-lived process printing one line per address
 * added or deleted (netlink RTM_NEWADDR / RTM_DELADDR), each reported with the address it names. If it exits it is started again, after a
 * growing pause; stop() ends it.
 */
export class IpMonitorAddressWatch implements AddressWatch {
  private readonly lifetime = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(private readonly options: IpMonitorAddressWatchOptions = {}) {}

  start(onChange: (change: AddressChange | undefined) => void): void {
    this.loop ??= this.run(onChange);
  }

  async stop(): Promise<void> {
    this.lifetime.abort();
    await this.loop;
  }

  private async run(onChange: (change: AddressChange | undefined) => void): Promise<void> {
    const { netns, logger } = this.options;
    const args = [...(netns === undefined ? [] : ["-n", netns]), "-o", "-4", "monitor", "address"];
    for (let attempt = 1; !this.lifetime.signal.aborted; attempt++) {
      let monitor: ResultPromise<{ cancelSignal: AbortSignal; reject: false; stdin: "ignore" }>;
      try {
        monitor = execa("ip", args, { cancelSignal: this.lifetime.signal, reject: false, stdin: "ignore" });
      } catch (error) {
        logger?.warn({ err: errorMessage(error) }, "ip monitor could not be started");
        if (!(await pause(jitteredBackoffMs(attempt, 250, 10_000), this.lifetime.signal))) return;
        continue;
      }
      let buffered = "";
      monitor.stdout.setEncoding("utf8");
      monitor.stdout.on("data", (chunk: string) => {
        buffered += chunk;
        const lines = buffered.split("\n");
        buffered = lines.pop() ?? "";
        for (const line of lines) if (line.trim() !== "") onChange(addressChangeOf(line));
      });
      const result = await monitor;
      if (isAborted(this.lifetime.signal)) return;
      logger?.warn(
        { exitCode: result.exitCode, stderr: result.stderr },
        "ip monitor exited; starting it again",
      );
      if (!(await pause(jitteredBackoffMs(attempt, 250, 10_000), this.lifetime.signal))) return;
    }
  }
}
