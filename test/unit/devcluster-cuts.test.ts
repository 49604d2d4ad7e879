/**
 * The dev cluster's network cuts (src/devcluster/dev-cluster-cuts.ts) as nftables scripts: only
 * the management interface, Consul's server RPC and gossip ports for a Consul cut, sanpathd's gRPC
 * port for a peer cut, both directions (as source and destination port), and a script that
 * replaces the table whatever was there (no cut: the table is only deleted).
 */
import { describe, expect, it } from "vitest";
import { cutPorts, FAULT_TABLE, faultRuleset } from "../../src/devcluster/dev-cluster-cuts.js";
import { CONSUL_HTTP_PORT, SANPATHD_LEASE_PORT, SANPATHD_PORT } from "../../src/devcluster/layout.js";

describe("devcluster cuts", () => {
  it("a consul cut drops server RPC and LAN/WAN gossip, TCP and UDP; a peer cut only sanpathd's ports", () => {
    expect(cutPorts("consul-cut")).toEqual({ tcp: [8300, 8301, 8302], udp: [8301, 8302] });
    expect(cutPorts("peers-cut")).toEqual({ tcp: [SANPATHD_PORT, SANPATHD_LEASE_PORT], udp: [] });
    expect(cutPorts("consul-cut").tcp).not.toContain(SANPATHD_PORT);
    expect(cutPorts("consul-cut").tcp).not.toContain(SANPATHD_LEASE_PORT);
    expect(cutPorts("consul-cut").tcp).not.toContain(CONSUL_HTTP_PORT);
  });

  it("no cut: the script only declares and deletes the table", () => {
    expect(faultRuleset([])).toBe(`table inet ${FAULT_TABLE}\ndelete table inet ${FAULT_TABLE}\n`);
  });

  it("a cut drops its ports in and out of eth0 only, as source and destination port", () => {
    const script = faultRuleset(["consul-cut"]);
    const rules = script.split("\n").filter((line) => line.includes(" drop "));
    expect(rules.every((line) => /(iifname|oifname) "eth0" /.test(line))).toBe(true);
    expect(rules).toHaveLength(8); // {in, out} × {tcp, udp} × {dport, sport}
    expect(script).toContain('iifname "eth0" tcp dport { 8300, 8301, 8302 } drop comment "consul-cut"');
    expect(script).toContain('oifname "eth0" udp sport { 8301, 8302 } drop comment "consul-cut"');
    expect(script).not.toContain(String(SANPATHD_PORT));
    expect(script).not.toMatch(/\blo\b/);
    // The table is replaced in one transaction, whether it existed or not.
    expect(script.startsWith(`table inet ${FAULT_TABLE}\ndelete table inet ${FAULT_TABLE}\n`)).toBe(true);
  });

  it("both cuts at once: each its own rules", () => {
    const script = faultRuleset(["consul-cut", "peers-cut"]);
    const ports = `${SANPATHD_PORT}, ${SANPATHD_LEASE_PORT}`;
    expect(script).toContain(`iifname "eth0" tcp dport { ${ports} } drop comment "peers-cut"`);
    expect(script).toContain(`oifname "eth0" tcp sport { ${ports} } drop comment "peers-cut"`);
    expect(script.split("\n").filter((line) => line.includes('"peers-cut"'))).toHaveLength(4);
    expect(script.split("\n").filter((line) => line.includes('"consul-cut"'))).toHaveLength(8);
  });
});
