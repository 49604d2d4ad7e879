import { describe, expect, it } from "vitest";
import { SanpathError } from "../../src/errors/sanpath-error.js";
import { iqnBaseProblem, iscsiNameProblem, validateIscsiName } from "../../src/disks/iscsi-name.js";

describe("iSCSI names (RFC 3720 / 3721 / 3980)", () => {
  it.each([
    "iqn.1993-08.org.debian:01:abc123def",
    "iqn.1991-05.com.microsoft:host-01.corp.example.com",
    "iqn.1998-01.com.vmware:esx01-5a1b2c3d",
    "iqn.2016-05.com.petasan",
    "iqn.2016-05.com.petasan:00001",
    "iqn.2003-01.org.linux-iscsi.host.x8664:sn.abcdef",
    "eui.02004567A425678D",
    "eui.02004567a425678d",
    "naa.52004567BA64678D",
    "naa.62004567BA64678D0123456789ABCDEF",
    `iqn.2016-05.com.petasan:${"a".repeat(223 - "iqn.2016-05.com.petasan:".length)}`,
  ])("accepts %s", (name) => {
    expect(iscsiNameProblem(name)).toBeUndefined();
    expect(validateIscsiName(name, "acl.initiator_iqns[0]")).toBe(name);
  });

  it.each([
    ["", "empty"],
    ["iqn.1993-08.org.Debian:01:abc", "lowercase"],
    ["IQN.1993-08.org.debian:01:abc", "lowercase"],
    ["iqn.93-08.org.debian:01", "not valid"],
    ["iqn.1993-13.org.debian", "not valid"],
    ["iqn.1993-00.org.debian", "not valid"],
    ["iqn.1993-08", "not valid"],
    ["iqn.1993-08.", "not valid"],
    ["iqn.1993-08.org..debian", "not valid"],
    ["iqn.1993-08.-org.debian", "not valid"],
    ["iqn.1993-08.org.debian:", "not valid"],
    ["iqn.1993-08.org.debian:a b", "not valid"],
    ["iqn.1993-08.org.debian:a_b", "not valid"],
    ["iqn.1993-08.org.debian:a,b", "not valid"],
    ["iqn.1993-08.org.debian:é", "not valid"],
    ["eui.0200456", "16 hex"],
    ["eui.02004567A425678G", "16 hex"],
    ["naa.52004567BA64678D01", "16 or 32"],
    ["EUI.02004567A425678D", "lowercase"],
    ["host.example.com", "starts with"],
    [`iqn.2016-05.com.petasan:${"a".repeat(224 - "iqn.2016-05.com.petasan:".length)}`, "223 bytes"],
  ])("refuses %j (%s)", (name, rule) => {
    expect(iscsiNameProblem(name)).toContain(rule);
    let error: unknown;
    try {
      validateIscsiName(name, "acl.initiator_iqns[2]");
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(SanpathError);
    expect(error).toMatchObject({ reason: "INVALID_FIELD", field: "acl.initiator_iqns[2]" });
  });

  it("checks an IQN base leaves room for ':<5-digit id>'", () => {
    const base = (length: number): string => `iqn.2016-05.com.petasan:${"a".repeat(length - 24)}`;
    expect(iqnBaseProblem(base(217))).toBeUndefined();
    expect(iqnBaseProblem(base(218))).toContain("too long");
    expect(iqnBaseProblem("naa.52004567BA64678D")).toContain("not an iqn");
    expect(iqnBaseProblem("iqn.2016-05.com.petasan")).toBeUndefined();
  });
});
