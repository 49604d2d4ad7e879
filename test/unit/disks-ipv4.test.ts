import { describe, expect, it } from "vitest";
import { SanpathError } from "../../src/errors/sanpath-error.js";
import {
  contains,
  formatCidr,
  formatIpv4,
  ipv4Range,
  isNetworkOrBroadcast,
  maskToPrefix,
  networkOf,
  overlaps,
  parseCidr,
  parseIpv4,
  prefixToMask,
  tryParseIpv4,
} from "../../src/disks/ipv4.js";
import { thrownAs } from "../support/thrown.js";

describe("IPv4 text", () => {
  it.each([
    ["0.0.0.0", 0],
    ["198.51.100.7", 0xc6336407],
    ["255.255.255.255", 0xffffffff],
    ["10.0.0.1", 0x0a000001],
  ])("parses %s", (text, value) => {
    expect(tryParseIpv4(text)).toBe(value);
    expect(formatIpv4(value)).toBe(text);
  });

  it.each([
    "",
    "1.2.3",
    "1.2.3.4.5",
    "256.1.1.1",
    "1.2.3.256",
    "010.1.1.1",
    "1.2.3.04",
    "00.1.2.3",
    " 1.2.3.4",
    "1.2.3.4 ",
    "1.2.3.-1",
    "1.2.3.4/24",
    "a.b.c.d",
    "1..2.3",
    "1.2.3.4.",
    "0x1.2.3.4",
    "1.2.3.1e2",
    "１.2.3.4",
  ])("refuses %j", (text) => {
    expect(tryParseIpv4(text)).toBeUndefined();
    expect(thrownAs(SanpathError, () => parseIpv4(text, "manual_ips[0]"))).toMatchObject({
      kind: "invalid_argument",
      reason: "INVALID_FIELD",
      field: "manual_ips[0]",
    });
  });

  it("round-trips random addresses", () => {
    for (let i = 0; i < 2000; i++) {
      const value = Math.floor(Math.random() * 2 ** 32);
      expect(tryParseIpv4(formatIpv4(value))).toBe(value);
    }
  });

  it("refuses to format values that are not uint32", () => {
    expect(() => formatIpv4(-1)).toThrow(RangeError);
    expect(() => formatIpv4(2 ** 32)).toThrow(RangeError);
    expect(() => formatIpv4(1.5)).toThrow(RangeError);
  });
});

describe("masks", () => {
  it("converts prefix lengths and contiguous masks both ways", () => {
    expect(prefixToMask(0)).toBe(0);
    expect(prefixToMask(32)).toBe(0xffffffff);
    expect(formatIpv4(prefixToMask(24))).toBe("255.255.255.0");
    expect(formatIpv4(prefixToMask(1))).toBe("128.0.0.0");
    for (let prefix = 0; prefix <= 32; prefix++) expect(maskToPrefix(prefixToMask(prefix))).toBe(prefix);
  });

  it("finds no prefix for a non-contiguous mask", () => {
    expect(maskToPrefix(tryParseIpv4("255.0.255.0") ?? -1)).toBeUndefined();
    expect(maskToPrefix(tryParseIpv4("0.0.0.255") ?? -1)).toBeUndefined();
  });
});

describe("CIDR networks", () => {
  it("parses network, prefix, mask and broadcast", () => {
    const net = parseCidr("198.51.100.0/24", "settings.subnet1.network");
    expect(net).toEqual({
      network: tryParseIpv4("198.51.100.0"),
      prefixLength: 24,
      mask: tryParseIpv4("255.255.255.0"),
      broadcast: tryParseIpv4("198.51.100.255"),
    });
    expect(formatCidr(net)).toBe("198.51.100.0/24");
    const wide = parseCidr("10.0.0.0/8", "f");
    expect(formatIpv4(wide.broadcast)).toBe("10.255.255.255");
    const tiny = parseCidr("203.0.113.4/30", "f");
    expect(formatIpv4(tiny.broadcast)).toBe("203.0.113.7");
  });

  it.each([
    ["198.51.100.0", "not a CIDR"],
    ["198.51.100.0/", "not a CIDR"],
    ["198.51.100.0/33", "outside"],
    ["198.51.100.0/024", "not a CIDR"],
    ["198.51.100.0/-1", "not a CIDR"],
    ["198.51.100.1/24", "host bits"],
    ["198.51.100.256/24", "not a CIDR"],
  ])("refuses %j (%s)", (text, rule) => {
    const error = thrownAs(SanpathError, () => parseCidr(text, "settings.subnet1.network"));
    expect(error).toMatchObject({ reason: "INVALID_FIELD", field: "settings.subnet1.network" });
    expect(error.message).toContain(rule);
  });

  it("applies prefix bounds", () => {
    expect(
      thrownAs(SanpathError, () => parseCidr("203.0.113.0/31", "f", { minPrefix: 8, maxPrefix: 30 })).message,
    ).toContain("/8../30");
    expect(() => parseCidr("10.0.0.0/7", "f", { minPrefix: 8, maxPrefix: 30 })).toThrow(SanpathError);
  });

  it("knows containment, network/broadcast and overlap", () => {
    const net = parseCidr("198.51.100.0/24", "f");
    const ip = (text: string): number => tryParseIpv4(text) ?? -1;
    expect(contains(net, ip("198.51.100.0"))).toBe(true);
    expect(contains(net, ip("198.51.100.255"))).toBe(true);
    expect(contains(net, ip("198.51.101.0"))).toBe(false);
    expect(contains(net, ip("198.51.99.255"))).toBe(false);
    expect(isNetworkOrBroadcast(net, ip("198.51.100.0"))).toBe(true);
    expect(isNetworkOrBroadcast(net, ip("198.51.100.255"))).toBe(true);
    expect(isNetworkOrBroadcast(net, ip("198.51.100.1"))).toBe(false);
    expect(overlaps(net, parseCidr("198.51.100.128/25", "f"))).toBe(true);
    expect(overlaps(net, parseCidr("198.51.0.0/16", "f"))).toBe(true);
    expect(overlaps(net, parseCidr("198.51.101.0/24", "f"))).toBe(false);
    expect(networkOf(ip("198.51.100.77"), 24).network).toBe(net.network);
  });
});

describe("ipv4Range", () => {
  it("walks an inclusive range, also across octet boundaries", () => {
    const from = tryParseIpv4("198.51.100.254") ?? -1;
    const to = tryParseIpv4("198.51.101.1") ?? -1;
    expect([...ipv4Range(from, to)].map(formatIpv4)).toEqual([
      "198.51.100.254",
      "198.51.100.255",
      "198.51.101.0",
      "198.51.101.1",
    ]);
    expect([...ipv4Range(from, from)]).toEqual([from]);
    expect([...ipv4Range(to, from)]).toEqual([]);
  });
});
