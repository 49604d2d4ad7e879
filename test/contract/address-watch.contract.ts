/**
 * The AddressWatch contract: every adapter (`ip monitor` in a namespace, the in-memory one) reports
 * an address added or deleted behind sanpathd's back, and nothing after stop().
 */
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { AddressChange, AddressWatch } from "../../src/net/address-watch.js";
import { until } from "../support/until.js";

export interface AddressWatchFixture {
  watch: AddressWatch;
  /** The address addAddress adds and deleteAddress deletes. */
  ip: string;
  /** Someone else adds / deletes an IPv4 address on the node. */
  addAddress: () => Promise<void>;
  deleteAddress: () => Promise<void>;
  close?: () => Promise<void>;
}

export function addressWatchContract(
  name: string,
  factory: () => AddressWatchFixture | Promise<AddressWatchFixture>,
): void {
  describe(`AddressWatch contract: ${name}`, () => {
    let current: AddressWatchFixture | undefined;
    beforeEach(async () => {
      current = await factory();
    });
    afterEach(async () => {
      await current?.watch.stop();
      await current?.close?.();
      current = undefined;
    });
    const fixture = (): AddressWatchFixture => {
      if (current === undefined) throw new Error("no fixture outside a test");
      return current;
    };

    it("reports an address added and one deleted behind the node's back, naming it", async () => {
      const { watch, ip, addAddress, deleteAddress } = fixture();
      let changes = 0;
      const named: (AddressChange | undefined)[] = [];
      watch.start((change) => {
        changes += 1;
        named.push(change);
      });
      // `ip monitor` needs a moment to subscribe after it starts.
      await sleep(300);
      await addAddress();
      await until("the addition reported", () => (changes >= 1 ? true : undefined), {
        timeoutMs: 5000,
        intervalMs: 10,
      });
      const afterAdd = changes;
      await deleteAddress();
      await until("the deletion reported", () => (changes > afterAdd ? true : undefined), {
        timeoutMs: 5000,
        intervalMs: 10,
      });
      expect(named.slice(0, afterAdd)).toContainEqual({ kind: "added", ip });
      expect(named.slice(afterAdd)).toContainEqual({ kind: "deleted", ip });
    });

    it("reports nothing after stop()", async () => {
      const { watch, addAddress } = fixture();
      let changes = 0;
      watch.start(() => (changes += 1));
      await sleep(300);
      await watch.stop();
      await addAddress();
      await sleep(300);
      expect(changes).toBe(0);
    });
  });
}
