import type { AddressChange, AddressWatch } from "../net/address-watch.js";
import type { InMemoryNetworkDriver } from "./in-memory-network-driver.js";

/**
 * AddressWatch over the in-memory network: every change of the fake kernel's addresses (by the
 * driver or `external.*`) is reported with the address it concerns, as the kernel's netlink events are.
 */
export class InMemoryAddressWatch implements AddressWatch {
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly network: InMemoryNetworkDriver) {}

  start(onChange: (change: AddressChange | undefined) => void): void {
    this.unsubscribe ??= this.network.onAddressChange(onChange);
  }

  stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    return Promise.resolve();
  }
}
