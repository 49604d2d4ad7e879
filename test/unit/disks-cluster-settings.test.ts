import { describe, expect, it } from "vitest";
import { SanpathError } from "../../src/errors/sanpath-error.js";
import {
  clusterSettingsToInput,
  subnetContaining,
  validateClusterSettings,
  type ClusterSettingsInput,
  type IscsiSubnetInput,
} from "../../src/disks/cluster-settings.js";
import { formatIpv4, tryParseIpv4 } from "../../src/disks/ipv4.js";
import { poolNameProblem } from "../../src/disks/pool-name.js";
import { thrownAs } from "../support/thrown.js";

const subnet1: IscsiSubnetInput = {
  network: "198.51.100.0/24",
  autoIpFrom: "198.51.100.10",
  autoIpTo: "198.51.100.50",
  interface: "eth1",
  vlanId: 0,
};
const subnet2: IscsiSubnetInput = {
  network: "203.0.113.0/24",
  autoIpFrom: "203.0.113.10",
  autoIpTo: "203.0.113.50",
  interface: "eth2",
  vlanId: 20,
};
const valid: ClusterSettingsInput = {
  iqnBase: "iqn.2016-05.com.petasan",
  defaultPool: "rbd",
  subnet1,
  subnet2,
};

function withSubnet1(change: Partial<IscsiSubnetInput>): ClusterSettingsInput {
  return { ...valid, subnet1: { ...subnet1, ...change } };
}

describe("validateClusterSettings", () => {
  it("accepts valid settings and round-trips them to the wire shape", () => {
    const settings = validateClusterSettings(valid);
    expect(settings.iqnBase).toBe("iqn.2016-05.com.petasan");
    expect(settings.subnet1.number).toBe(1);
    expect(settings.subnet2?.number).toBe(2);
    expect(settings.subnet1.network.prefixLength).toBe(24);
    expect(formatIpv4(settings.subnet1.autoIpFrom)).toBe("198.51.100.10");
    expect(settings.subnet2?.vlanId).toBe(20);
    expect(clusterSettingsToInput(settings)).toEqual(valid);
  });

  it("accepts settings without subnet 2, and a one-address range", () => {
    const settings = validateClusterSettings({
      ...valid,
      subnet2: undefined,
      subnet1: { ...subnet1, autoIpTo: subnet1.autoIpFrom },
    });
    expect(settings.subnet2).toBeUndefined();
    expect(settings.subnet1.autoIpFrom).toBe(settings.subnet1.autoIpTo);
  });

  it("uses PetaSAN's pool rbd when none is given", () => {
    expect(validateClusterSettings({ ...valid, defaultPool: "" }).defaultPool).toBe("rbd");
  });

  it("finds the subnet holding an address", () => {
    const settings = validateClusterSettings(valid);
    expect(subnetContaining(settings, tryParseIpv4("203.0.113.200") ?? -1)?.number).toBe(2);
    expect(subnetContaining(settings, tryParseIpv4("198.51.100.1") ?? -1)?.number).toBe(1);
    expect(subnetContaining(settings, tryParseIpv4("192.0.2.1") ?? -1)).toBeUndefined();
  });

  const cases: [string, ClusterSettingsInput, string, string][] = [
    ["no IQN base", { ...valid, iqnBase: "" }, "DATA_MISSING", "settings.iqn_base"],
    [
      "an IQN base of another type",
      { ...valid, iqnBase: "eui.0123456789ABCDEF" },
      "INVALID_FIELD",
      "settings.iqn_base",
    ],
    [
      "an uppercase IQN base",
      { ...valid, iqnBase: "iqn.2016-05.com.PetaSAN" },
      "INVALID_FIELD",
      "settings.iqn_base",
    ],
    [
      "an IQN base with month 13",
      { ...valid, iqnBase: "iqn.2016-13.com.petasan" },
      "INVALID_FIELD",
      "settings.iqn_base",
    ],
    [
      "an IQN base too long for ':<id>'",
      { ...valid, iqnBase: `iqn.2016-05.com.petasan:${"a".repeat(200)}` },
      "INVALID_FIELD",
      "settings.iqn_base",
    ],
    ["a pool with '/'", { ...valid, defaultPool: "rbd/x" }, "INVALID_FIELD", "settings.default_pool"],
    ["no subnet 1", { ...valid, subnet1: undefined }, "DATA_MISSING", "settings.subnet1"],
    ["no network", withSubnet1({ network: "" }), "DATA_MISSING", "settings.subnet1.network"],
    [
      "a network with host bits",
      withSubnet1({ network: "198.51.100.1/24" }),
      "INVALID_FIELD",
      "settings.subnet1.network",
    ],
    [
      "a /31 network",
      withSubnet1({ network: "198.51.100.0/31" }),
      "INVALID_FIELD",
      "settings.subnet1.network",
    ],
    ["a /7 network", withSubnet1({ network: "198.0.0.0/7" }), "INVALID_FIELD", "settings.subnet1.network"],
    ["no range start", withSubnet1({ autoIpFrom: "" }), "DATA_MISSING", "settings.subnet1.auto_ip_from"],
    [
      "a bad range start",
      withSubnet1({ autoIpFrom: "198.51.100.010" }),
      "INVALID_FIELD",
      "settings.subnet1.auto_ip_from",
    ],
    [
      "a range start outside",
      withSubnet1({ autoIpFrom: "198.51.101.10" }),
      "INVALID_FIELD",
      "settings.subnet1.auto_ip_from",
    ],
    [
      "a range start on the network address",
      withSubnet1({ autoIpFrom: "198.51.100.0" }),
      "INVALID_FIELD",
      "settings.subnet1.auto_ip_from",
    ],
    [
      "a range end on the broadcast address",
      withSubnet1({ autoIpTo: "198.51.100.255" }),
      "INVALID_FIELD",
      "settings.subnet1.auto_ip_to",
    ],
    [
      "a range end outside",
      withSubnet1({ autoIpTo: "198.51.99.50" }),
      "INVALID_FIELD",
      "settings.subnet1.auto_ip_to",
    ],
    [
      "from above to",
      withSubnet1({ autoIpFrom: "198.51.100.60" }),
      "INVALID_FIELD",
      "settings.subnet1.auto_ip_to",
    ],
    ["no interface", withSubnet1({ interface: "" }), "DATA_MISSING", "settings.subnet1.interface"],
    [
      "a 16-character interface",
      withSubnet1({ interface: "a".repeat(16) }),
      "INVALID_FIELD",
      "settings.subnet1.interface",
    ],
    [
      "an interface with '/'",
      withSubnet1({ interface: "eth/1" }),
      "INVALID_FIELD",
      "settings.subnet1.interface",
    ],
    [
      "an interface with a space",
      withSubnet1({ interface: "eth 1" }),
      "INVALID_FIELD",
      "settings.subnet1.interface",
    ],
    [
      "an interface with ':'",
      withSubnet1({ interface: "eth1:0" }),
      "INVALID_FIELD",
      "settings.subnet1.interface",
    ],
    ["the interface '..'", withSubnet1({ interface: ".." }), "INVALID_FIELD", "settings.subnet1.interface"],
    [
      "a VLAN interface name over 15 characters",
      withSubnet1({ interface: "enp0s31f6abc", vlanId: 100 }),
      "INVALID_FIELD",
      "settings.subnet1.interface",
    ],
    ["VLAN 4095", withSubnet1({ vlanId: 4095 }), "INVALID_FIELD", "settings.subnet1.vlan_id"],
    ["VLAN -1", withSubnet1({ vlanId: -1 }), "INVALID_FIELD", "settings.subnet1.vlan_id"],
    ["VLAN 1.5", withSubnet1({ vlanId: 1.5 }), "INVALID_FIELD", "settings.subnet1.vlan_id"],
    [
      "overlapping subnets",
      {
        ...valid,
        subnet2: {
          ...subnet2,
          network: "198.51.100.128/25",
          autoIpFrom: "198.51.100.130",
          autoIpTo: "198.51.100.140",
        },
      },
      "INVALID_FIELD",
      "settings.subnet2.network",
    ],
    [
      "a bad subnet 2 range",
      { ...valid, subnet2: { ...subnet2, autoIpTo: "198.51.100.5" } },
      "INVALID_FIELD",
      "settings.subnet2.auto_ip_to",
    ],
  ];

  it.each(cases)("refuses %s", (_what, input, reason, field) => {
    const error = thrownAs(SanpathError, () => validateClusterSettings(input));
    expect(error).toMatchObject({ kind: "invalid_argument", reason, field });
    expect(error.message.startsWith(`${field}: `)).toBe(true);
  });

  it.each([
    ["multicast", "224.0.0.0/24", "multicast (224.0.0.0/4)"],
    ["loopback", "127.0.0.0/24", "loopback (127.0.0.0/8)"],
    ["link-local", "169.254.1.0/24", "link-local (169.254.0.0/16)"],
    ["'this network'", "0.0.0.0/24", '"this network" (0.0.0.0/8)'],
    ["reserved", "240.0.0.0/24", "reserved and limited broadcast (240.0.0.0/4)"],
    ["limited-broadcast", "255.255.255.0/24", "reserved and limited broadcast (240.0.0.0/4)"],
    ["link-local-holding", "169.0.0.0/8", "link-local (169.254.0.0/16)"],
  ])("refuses a %s subnet, naming the field and the rule", (_what, network, rule) => {
    const first = network.replace(/0\/\d+$/, "10");
    const error = thrownAs(SanpathError, () =>
      validateClusterSettings(withSubnet1({ network, autoIpFrom: first, autoIpTo: first })),
    );
    expect(error).toMatchObject({ kind: "invalid_argument", field: "settings.subnet1.network" });
    expect(error.message).toContain(rule);
    expect(error.message).toContain("an iSCSI subnet must be unicast space");
  });

  it("refuses the loopback interface", () => {
    const error = thrownAs(SanpathError, () => validateClusterSettings(withSubnet1({ interface: "lo" })));
    expect(error).toMatchObject({ kind: "invalid_argument", field: "settings.subnet1.interface" });
    expect(error.message).toContain("loopback interface");
  });

  it("accepts the longest VLAN interface name that fits", () => {
    expect(
      validateClusterSettings(withSubnet1({ interface: "enp0s31f6a", vlanId: 4094 })).subnet1.interface,
    ).toBe("enp0s31f6a");
  });
});

describe("pool names", () => {
  it.each(["rbd", "pool_1", "ssd-pool.a", "_x", "A".repeat(64)])("accepts %s", (name) => {
    expect(poolNameProblem(name)).toBeUndefined();
  });
  it.each(["", ".hidden", "-x", "a/b", "a@b", "a b", "A".repeat(65), "pööl"])("refuses %j", (name) => {
    expect(poolNameProblem(name)).toBeTypeOf("string");
  });
});
