/**
 * tgtd's management protocol: the bytes of a request (struct tgtadm_req + parameters, tgt 1.0.x on
 * a little-endian host), the response header, and tgtadm's argument lists turned into requests.
 * That real tgtadm sends the same bytes is checked in test/integration/iscsi-tgt-mgmt-socket.test.ts.
 */
import { describe, expect, it } from "vitest";
import { secret } from "../../src/exec/command-runner.js";
import { TgtMgmtArgsError, tgtMgmtRequestOf } from "../../src/iscsi/tgt-mgmt-args.js";
import {
  decodeTgtMgmtResponseHeader,
  encodeTgtMgmtRequest,
  NO_LUN,
  TgtMgmtMode,
  TgtMgmtOp,
  tgtMgmtErrorText,
  tgtMgmtResponseText,
} from "../../src/iscsi/tgt-mgmt-protocol.js";
import { thrownAs } from "../support/thrown.js";

const hex = (text: string): Buffer => Buffer.from(text.replace(/\s+/g, ""), "hex");
const zeros = (count: number): string => "00".repeat(count);

describe("tgtd management request bytes", () => {
  it("new target: mode 1, op 0, lld 'iscsi', length with the NUL, tid, no LUN, then the parameters", () => {
    const bytes = encodeTgtMgmtRequest(
      tgtMgmtRequestOf(["--op", "new", "--mode", "target", "--tid", "3", "--targetname", "iqn.x"]),
      true,
    );
    const expected = hex(`
      01000000 00000000
      6973637369 ${zeros(59)}
      89000000
      03000000
      0000000000000000
      ffffffffffffffff
      00000000 00000000 00000000 00000000 00000000 00000000
      ${Buffer.from("targetname=iqn.x\0").toString("hex")}`);
    expect(bytes.toString("hex")).toBe(expected.toString("hex"));
    expect(bytes).toHaveLength(120 + 17);
  });

  it("a show without parameters is the bare header: tid -1, length 120", () => {
    const bytes = encodeTgtMgmtRequest(tgtMgmtRequestOf(["--op", "show", "--mode", "target"]), true);
    expect(bytes).toHaveLength(120);
    expect(bytes.readUInt32LE(0)).toBe(TgtMgmtMode.target);
    expect(bytes.readUInt32LE(4)).toBe(TgtMgmtOp.show);
    expect(bytes.readUInt32LE(72)).toBe(120);
    expect(bytes.readInt32LE(76)).toBe(-1);
    expect(bytes.readBigUInt64LE(88)).toBe(NO_LUN);
  });

  it("connection delete carries tid, sid (u64 at 80) and cid (u32 at 96); --force sets the last word", () => {
    const close = encodeTgtMgmtRequest(
      tgtMgmtRequestOf([
        "--op",
        "delete",
        "--mode",
        "conn",
        "--tid",
        "7",
        "--sid",
        "4294967301",
        "--cid",
        "2",
      ]),
      true,
    );
    expect(close.readUInt32LE(0)).toBe(TgtMgmtMode.connection);
    expect(close.readUInt32LE(4)).toBe(TgtMgmtOp.delete);
    expect(close.readInt32LE(76)).toBe(7);
    expect(close.readBigUInt64LE(80)).toBe(4294967301n);
    expect(close.readUInt32LE(96)).toBe(2);
    expect(close.readUInt32LE(116)).toBe(0);
    const forced = encodeTgtMgmtRequest(
      tgtMgmtRequestOf(["--op", "delete", "--force", "--mode", "target", "--tid", "7"]),
      true,
    );
    expect(forced.readUInt32LE(116)).toBe(1);
  });

  it("big-endian hosts get every word in their order", () => {
    const bytes = encodeTgtMgmtRequest(tgtMgmtRequestOf(["--op", "show", "--mode", "target"]), false);
    expect(bytes.subarray(0, 8).toString("hex")).toBe("0000000100000002");
    expect(bytes.readUInt32BE(72)).toBe(120);
  });

  it("refuses parameters tgtd would drop (over 8 KiB)", () => {
    const long = "iqn.x:" + "a".repeat(9000);
    expect(() =>
      encodeTgtMgmtRequest(
        tgtMgmtRequestOf(["--op", "new", "--mode", "target", "--tid", "1", "--targetname", long]),
      ),
    ).toThrow(RangeError);
  });
});

describe("tgtadm arguments as a request", () => {
  const parametersOf = (...args: Parameters<typeof tgtMgmtRequestOf>[0][]) =>
    args.map((list) => tgtMgmtRequestOf(list).parameters);

  it("builds tgtadm's parameter string in tgtadm's order, whatever the order of the options", () => {
    expect(
      parametersOf(
        ["--op", "update", "--mode", "target", "--tid", "1", "--name", "state", "--value", "offline"],
        [
          "--op",
          "new",
          "--mode",
          "logicalunit",
          "--tid",
          "1",
          "--lun",
          "1",
          "--bstype",
          "rbd",
          "--backing-store",
          "rbd/image-00001",
          "--bsopts",
          "conf=/etc/ceph/ceph.conf;id=admin",
        ],
        ["--op", "bind", "--mode", "target", "--tid", "1", "--initiator-address", "ALL"],
        ["--op", "unbind", "--mode", "target", "--tid", "1", "--initiator-name", "iqn.1994-05.org.example:a"],
        ["--op", "new", "--mode", "account", "--user", "u1", "--password", secret("s3cret")],
        ["--op", "bind", "--mode", "account", "--tid", "2", "--user", "u1"],
        ["--op", "new", "--mode", "portal", "--param", "portal=198.51.100.50:3260"],
        ["--op", "show", "--mode", "conn", "--tid", "4"],
      ),
    ).toEqual([
      "state=offline",
      "path=rbd/image-00001,bstype=rbd,bsopts=conf=/etc/ceph/ceph.conf;id=admin",
      "initiator-address=ALL",
      "initiator-name=iqn.1994-05.org.example:a",
      "user=u1,password=s3cret",
      "user=u1",
      "portalOps portal=198.51.100.50:3260,",
      "",
    ]);
  });

  it("fills the header as tgtadm does: LUN, outgoing account, no tid for an account bind without one", () => {
    expect(
      tgtMgmtRequestOf(["--op", "delete", "--mode", "logicalunit", "--tid", "1", "--lun", "2"]),
    ).toMatchObject({ mode: TgtMgmtMode.logicalunit, op: TgtMgmtOp.delete, tid: 1, lun: 2n, lld: "iscsi" });
    expect(
      tgtMgmtRequestOf(["--op", "bind", "--mode", "account", "--user", "u", "--outgoing"]),
    ).toMatchObject({ tid: -1, accountDirection: 1 });
  });

  it("refuses what tgtadm refuses or this channel does not know, before a byte is sent", () => {
    for (const args of [
      ["--mode", "target"],
      ["--op", "show"],
      ["--op", "fly", "--mode", "target"],
      ["--op", "show", "--mode", "galaxy"],
      ["--op", "delete", "--mode", "target"],
      ["--op", "new", "--mode", "target", "--tid", "0", "--targetname", "iqn.x"],
      ["--op", "new", "--mode", "logicalunit", "--tid", "1"],
      ["--op", "update", "--mode", "target", "--tid", "1", "--name", "state"],
      ["--op", "new", "--mode", "portal"],
      ["--op", "show", "--mode", "target", "--tid", "-1"],
      ["--op", "show", "--mode", "target", "--tid", "1x"],
      ["--op", "show", "--mode", "target", "--bus", "pci,0"],
      ["--op", "show", "--mode", "target", "--tid"],
      ["--op", "show", "--mode", "constructor"],
    ]) {
      expect(
        thrownAs(TgtMgmtArgsError, () => tgtMgmtRequestOf(args)),
        args.join(" "),
      ).toBeInstanceOf(TgtMgmtArgsError);
    }
  });
});

describe("tgtd management response", () => {
  it("decodes the header: error code and total length", () => {
    expect(decodeTgtMgmtResponseHeader(hex("00000000 1a000000"), true)).toEqual({ error: 0, length: 26 });
    expect(decodeTgtMgmtResponseHeader(hex("00000004 00000008"), false)).toEqual({ error: 4, length: 8 });
    expect(() => decodeTgtMgmtResponseHeader(hex("000000"))).toThrow(RangeError);
  });

  it("gives the body's text as tgtadm prints it (up to the NUL), and tgtadm's words for errors", () => {
    expect(tgtMgmtResponseText(Buffer.from("Portal: 198.51.100.50:3260,1\n\0junk"))).toBe(
      "Portal: 198.51.100.50:3260,1\n",
    );
    expect(tgtMgmtResponseText(Buffer.from("no nul"))).toBe("no nul");
    expect(tgtMgmtErrorText(4)).toBe("can't find the target");
    expect(tgtMgmtErrorText(15)).toBe("can't find the account");
    expect(tgtMgmtErrorText(9)).toBe("this target already exists");
    expect(tgtMgmtErrorText(24)).toBe("this device has Prevent Removal set");
    expect(tgtMgmtErrorText(99)).toBe("(unknown tgtadm_errno 99)");
  });
});
