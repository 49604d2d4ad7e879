import { describe, expect, it } from "vitest";
import { SanpathError } from "../../src/errors/sanpath-error.js";
import {
  validateClusterSettings,
  type ClusterSettings,
  type IscsiSubnet,
} from "../../src/disks/cluster-settings.js";
import type { DiskPath } from "../../src/disks/disk.js";
import { allocateAutomaticIps } from "../../src/disks/ip-allocation.js";
import { formatIpv4, tryParseIpv4 } from "../../src/disks/ipv4.js";
import type { SubnetChoice } from "../../src/disks/subnet-choice.js";
import { thrownAs } from "../support/thrown.js";
import { seededRandom } from "../../src/util/seeded-random.js";

function settingsWith(range1: [string, string], range2?: [string, string]): ClusterSettings {
  return validateClusterSettings({
    iqnBase: "iqn.2016-05.com.petasan",
    defaultPool: "rbd",
    subnet1: {
      network: "198.51.100.0/24",
      autoIpFrom: range1[0],
      autoIpTo: range1[1],
      interface: "eth1",
      vlanId: 0,
    },
    subnet2:
      range2 === undefined
        ? undefined
        : {
            network: "203.0.113.0/24",
            autoIpFrom: range2[0],
            autoIpTo: range2[1],
            interface: "eth2",
            vlanId: 7,
          },
  });
}

/** subnet 1: .10 .. .14 (5 addresses); subnet 2: .10 .. .13 (4 addresses). */
const small = settingsWith(["198.51.100.10", "198.51.100.14"], ["203.0.113.10", "203.0.113.13"]);
const s1 = (last: number): string => `198.51.100.${last}`;
const s2 = (last: number): string => `203.0.113.${last}`;
const usedOf =
  (...ips: string[]) =>
  (ip: string): boolean =>
    ips.includes(ip);
const ips = (paths: DiskPath[]): string[] => paths.map((p) => p.ip);

describe("allocateAutomaticIps: worked examples", () => {
  it("takes the first addresses of an empty range, with the subnet's interface, prefix and VLAN", () => {
    expect(allocateAutomaticIps(small, "subnet1", 2, usedOf())).toEqual([
      { index: 1, ip: s1(10), prefixLength: 24, interface: "eth1", vlanId: 0, subnet: 1 },
      { index: 2, ip: s1(11), prefixLength: 24, interface: "eth1", vlanId: 0, subnet: 1 },
    ]);
    expect(allocateAutomaticIps(small, "subnet2", 1, usedOf())).toEqual([
      { index: 1, ip: s2(10), prefixLength: 24, interface: "eth2", vlanId: 7, subnet: 2 },
    ]);
  });

  it("restarts the block after a used address", () => {
    expect(ips(allocateAutomaticIps(small, "subnet1", 2, usedOf(s1(11))))).toEqual([s1(12), s1(13)]);
    expect(ips(allocateAutomaticIps(small, "subnet1", 2, usedOf(s1(10), s1(12))))).toEqual([s1(13), s1(14)]);
    expect(ips(allocateAutomaticIps(small, "subnet1", 1, usedOf(s1(10), s1(11))))).toEqual([s1(12)]);
  });

  it("does not take a gap that is too small even when more addresses are free in total", () => {
    // Free: .10 .11 .12 .14 — four free addresses, but no run of four.
    const error = thrownAs(SanpathError, () => allocateAutomaticIps(small, "subnet1", 4, usedOf(s1(13))));
    expect(error).toMatchObject({ kind: "resource_exhausted", reason: "IP_OUT_OF_RANGE" });
    expect(ips(allocateAutomaticIps(small, "subnet1", 3, usedOf(s1(13))))).toEqual([s1(10), s1(11), s1(12)]);
  });

  it("is exhausted when the range is full or too short", () => {
    expect(thrownAs(SanpathError, () => allocateAutomaticIps(small, "subnet1", 6, usedOf()))).toMatchObject({
      reason: "IP_OUT_OF_RANGE",
    });
    const full = usedOf(s1(10), s1(11), s1(12), s1(13), s1(14));
    expect(thrownAs(SanpathError, () => allocateAutomaticIps(small, "subnet1", 1, full)).message).toContain(
      "198.51.100.10..198.51.100.14",
    );
  });

  it("with both subnets, alternates subnet 1 and subnet 2 in lockstep", () => {
    const paths = allocateAutomaticIps(small, "both", 3, usedOf());
    expect(paths.map((p) => [p.index, p.ip, p.subnet, p.interface])).toEqual([
      [1, s1(10), 1, "eth1"],
      [2, s2(10), 2, "eth2"],
      [3, s1(11), 1, "eth1"],
    ]);
  });

  it("with both subnets, a step with either address used restarts the block", () => {
    expect(ips(allocateAutomaticIps(small, "both", 3, usedOf(s2(10))))).toEqual([s1(11), s2(11), s1(12)]);
    expect(ips(allocateAutomaticIps(small, "both", 2, usedOf(s1(11))))).toEqual([s1(10), s2(10)]);
    expect(ips(allocateAutomaticIps(small, "both", 4, usedOf(s1(11))))).toEqual([
      s1(12),
      s2(12),
      s1(13),
      s2(13),
    ]);
  });

  it("with both subnets, the last step needs both addresses free even when it uses one (PetaSAN)", () => {
    // One path would fit at s1(10), but its lockstep partner s2(10) is used.
    expect(ips(allocateAutomaticIps(small, "both", 1, usedOf(s2(10))))).toEqual([s1(11)]);
  });

  it("with both subnets, stops at the end of the shorter range", () => {
    // 4 steps exist (subnet 2 has 4 addresses); s1(14) has no partner.
    expect(ips(allocateAutomaticIps(small, "both", 8, usedOf()))).toHaveLength(8);
    expect(
      thrownAs(SanpathError, () => allocateAutomaticIps(small, "both", 8, usedOf(s1(14), s2(13)))),
    ).toMatchObject({
      kind: "resource_exhausted",
      reason: "IP_OUT_OF_RANGE",
    });
    // s1(14) is free but has no partner in subnet 2's range, so it is never taken.
    expect(
      thrownAs(SanpathError, () =>
        allocateAutomaticIps(small, "both", 1, usedOf(s1(10), s1(11), s1(12), s2(13))),
      ).reason,
    ).toBe("IP_OUT_OF_RANGE");
  });

  it("refuses a choice that needs the missing subnet 2", () => {
    const only1 = settingsWith(["198.51.100.10", "198.51.100.14"]);
    expect(thrownAs(SanpathError, () => allocateAutomaticIps(only1, "both", 2, usedOf()))).toMatchObject({
      reason: "INVALID_FIELD",
      field: "subnet",
    });
  });

  it("calls isUsed at most once per address of the range", () => {
    const wide = settingsWith(["198.51.100.1", "198.51.100.254"], ["203.0.113.1", "203.0.113.254"]);
    let calls = 0;
    const everyOtherUsed = (ip: string): boolean => {
      calls++;
      return (tryParseIpv4(ip) ?? 0) % 2 === 0;
    };
    expect(
      thrownAs(SanpathError, () => allocateAutomaticIps(wide, "subnet1", 2, everyOtherUsed)).reason,
    ).toBe("IP_OUT_OF_RANGE");
    expect(calls).toBeLessThanOrEqual(254);
    calls = 0;
    expect(thrownAs(SanpathError, () => allocateAutomaticIps(wide, "both", 4, everyOtherUsed)).reason).toBe(
      "IP_OUT_OF_RANGE",
    );
    expect(calls).toBeLessThanOrEqual(2 * 254);
  });
});

/** The expected block, by brute force over every start: the addresses, or undefined when none fits. */
function firstBlockByBruteForce(
  subnets: IscsiSubnet[],
  count: number,
  used: ReadonlySet<string>,
): string[] | undefined {
  const [first, second] = subnets;
  if (first === undefined) throw new Error("no subnet");
  if (second === undefined) {
    for (let start = first.autoIpFrom; start + count - 1 <= first.autoIpTo; start++) {
      const block = Array.from({ length: count }, (_, k) => formatIpv4(start + k));
      if (block.every((ip) => !used.has(ip))) return block;
    }
    return undefined;
  }
  const steps = Math.min(first.autoIpTo - first.autoIpFrom, second.autoIpTo - second.autoIpFrom) + 1;
  const stepsNeeded = Math.ceil(count / 2);
  for (let start = 0; start + stepsNeeded <= steps; start++) {
    const pairs = Array.from({ length: stepsNeeded }, (_, k) => [
      formatIpv4(first.autoIpFrom + start + k),
      formatIpv4(second.autoIpFrom + start + k),
    ]);
    if (pairs.flat().every((ip) => !used.has(ip))) return pairs.flat().slice(0, count);
  }
  return undefined;
}

describe("allocateAutomaticIps: property (random used sets)", () => {
  it("returns the first block of unused, consecutive, in-range addresses, or IP_OUT_OF_RANGE when none exists", () => {
    const choices: SubnetChoice[] = ["subnet1", "subnet2", "both"];
    let allocated = 0;
    let exhausted = 0;
    for (let seed = 1; seed <= 600; seed++) {
      const random = seededRandom(seed);
      const pick = (n: number): number => Math.floor(random() * n);
      const from1 = 1 + pick(100);
      const from2 = 1 + pick(100);
      const settings = settingsWith(
        [s1(from1), s1(Math.min(254, from1 + pick(40)))],
        [s2(from2), s2(Math.min(254, from2 + pick(40)))],
      );
      const choice = choices[pick(3)] ?? "subnet1";
      const count = 1 + pick(8);
      const density = random() * 0.6;
      const used = new Set<string>();
      for (let last = 1; last <= 254; last++) {
        if (random() < density) used.add(s1(last));
        if (random() < density) used.add(s2(last));
      }
      const subnets: IscsiSubnet[] =
        choice === "subnet1"
          ? [settings.subnet1]
          : choice === "subnet2"
            ? [settings.subnet2 as IscsiSubnet]
            : [settings.subnet1, settings.subnet2 as IscsiSubnet];
      const expected = firstBlockByBruteForce(subnets, count, used);
      const context = `seed ${seed}, ${choice}, count ${count}`;

      if (expected === undefined) {
        const error = thrownAs(SanpathError, () =>
          allocateAutomaticIps(settings, choice, count, (ip) => used.has(ip)),
        );
        expect(error.reason, context).toBe("IP_OUT_OF_RANGE");
        exhausted++;
        continue;
      }
      const paths = allocateAutomaticIps(settings, choice, count, (ip) => used.has(ip));
      allocated++;
      expect(ips(paths), context).toEqual(expected);
      expect(
        paths.map((p) => p.index),
        context,
      ).toEqual(Array.from({ length: count }, (_, k) => k + 1));
      for (const [position, path] of paths.entries()) {
        const subnet = subnets[choice === "both" ? position % 2 : 0] as IscsiSubnet;
        const address = tryParseIpv4(path.ip) ?? -1;
        expect(used.has(path.ip), context).toBe(false);
        expect(path.subnet, context).toBe(subnet.number);
        expect(address >= subnet.autoIpFrom && address <= subnet.autoIpTo, context).toBe(true);
      }
      // Consecutive: within each subnet, the addresses taken follow one another.
      for (const number of [1, 2]) {
        const own = paths.filter((p) => p.subnet === number).map((p) => tryParseIpv4(p.ip) ?? -1);
        own.forEach((address, k) => {
          if (k > 0) expect(address - (own[k - 1] ?? 0), context).toBe(1);
        });
      }
    }
    // The generator must exercise both outcomes, or the property says little.
    expect(allocated).toBeGreaterThan(100);
    expect(exhausted).toBeGreaterThan(50);
  });
});
