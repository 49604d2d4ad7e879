import { describe, expect, it } from "vitest";
import { ConsulKeys, encodeKeySegment } from "../../src/consul/keys.js";

describe("ConsulKeys", () => {
  const keys = new ConsulKeys();

  it("uses PetaSAN's layout for disks and paths by default", () => {
    expect(keys.root).toBe("PetaSAN");
    expect(keys.disks()).toBe("PetaSAN/Disks/");
    expect(keys.disk("00001")).toBe("PetaSAN/Disks/00001");
    expect(keys.diskPaths("00001")).toBe("PetaSAN/Disks/00001/");
    expect(keys.diskPath("00001", 1)).toBe("PetaSAN/Disks/00001/1");
    expect(keys.diskPath("00042", 8)).toBe("PetaSAN/Disks/00042/8");
  });

  it("parses path and disk keys back, and nothing else", () => {
    expect(keys.parseDiskPath("PetaSAN/Disks/00001/1")).toEqual({ diskId: "00001", index: 1 });
    expect(keys.parseDiskPath("PetaSAN/Disks/00042/8")).toEqual({ diskId: "00042", index: 8 });
    for (const other of [
      "PetaSAN/Disks/00001",
      "PetaSAN/Disks/00001/",
      "PetaSAN/Disks/00001/0",
      "PetaSAN/Disks/00001/9",
      "PetaSAN/Disks/00001/01",
      "PetaSAN/Disks/00001/1/x",
      "PetaSAN/Disks/1/1",
      "Other/Disks/00001/1",
      "PetaSAN/Nodes/00001/1",
    ]) {
      expect(keys.parseDiskPath(other), other).toBeUndefined();
    }
    expect(keys.parseDisk("PetaSAN/Disks/00007")).toBe("00007");
    expect(keys.parseDisk("PetaSAN/Disks/00007/1")).toBeUndefined();
    expect(keys.parseDisk("PetaSAN/Disks/7")).toBeUndefined();
  });

  it("round-trips every path key", () => {
    for (let index = 1; index <= 8; index += 1) {
      expect(keys.parseDiskPath(keys.diskPath("12345", index))).toEqual({ diskId: "12345", index });
    }
  });

  it("keeps the running job's keys under one prefix no other key shares", () => {
    expect(keys.assignmentRoot()).toBe("PetaSAN/Assignment");
    expect(keys.assignmentPaths()).toBe("PetaSAN/Assignment/");
    expect(keys.assignmentPath("198.51.100.10")).toBe("PetaSAN/Assignment/198.51.100.10");
    expect(keys.parseAssignmentPath("PetaSAN/Assignment/198.51.100.10")).toBe("198.51.100.10");
    expect(keys.parseAssignmentPath("PetaSAN/Assignment")).toBeUndefined();
    const others = [
      keys.assignmentHistory("job-1"),
      keys.assignmentEvent("job-1", 3),
      keys.coordinatorLock(),
      keys.node("node-1"),
      keys.settings(),
      keys.allocatedIp("198.51.100.10"),
      keys.allocatedDiskId("00001"),
      keys.diskName("Disk"),
      keys.diskPath("00001", 1),
    ];
    for (const key of others) expect(key.startsWith(keys.assignmentRoot()), key).toBe(false);
  });

  it("orders job events by sequence and parses them back", () => {
    expect(keys.assignmentEvents("job-1")).toBe("PetaSAN/JobEvents/job-1/");
    expect(keys.assignmentEvent("job-1", 42)).toBe("PetaSAN/JobEvents/job-1/0000000042");
    expect(keys.assignmentEvent("job-1", 9) < keys.assignmentEvent("job-1", 10)).toBe(true);
    expect(keys.parseAssignmentEvent("job-1", "PetaSAN/JobEvents/job-1/0000000042")).toBe(42);
    expect(keys.parseAssignmentEvent("job-2", "PetaSAN/JobEvents/job-1/0000000042")).toBeUndefined();
    expect(() => keys.assignmentEvent("job-1", -1)).toThrow(/sequence/);
    expect(() => keys.assignmentEvent("job/1", 1)).toThrow(/job_id/);
  });

  it("names services, nodes, settings and allocations", () => {
    expect(keys.services()).toBe("PetaSAN/Services/");
    expect(keys.coordinatorLock()).toBe("PetaSAN/Services/Coordinator");
    expect(keys.nodes()).toBe("PetaSAN/Nodes/");
    expect(keys.node("ps-node-01")).toBe("PetaSAN/Nodes/ps-node-01");
    expect(keys.parseNode("PetaSAN/Nodes/ps-node-01")).toBe("ps-node-01");
    expect(keys.parseNode("PetaSAN/Nodes/a/b")).toBeUndefined();
    expect(keys.settings()).toBe("PetaSAN/Config/cluster");
    expect(keys.allocatedIp("203.0.113.7")).toBe("PetaSAN/Allocations/IPs/203.0.113.7");
    expect(keys.allocatedDiskId("00003")).toBe("PetaSAN/Allocations/DiskIds/00003");
  });

  it("reserves disk names case-insensitively as one safe key segment", () => {
    expect(keys.diskName("Data")).toBe("PetaSAN/Allocations/DiskNames/data");
    expect(keys.diskName("DATA")).toBe(keys.diskName("data"));
    expect(keys.diskName("a/b c")).toBe("PetaSAN/Allocations/DiskNames/a%2Fb%20c");
    expect(keys.diskName("..")).toBe("PetaSAN/Allocations/DiskNames/%2E%2E");
    expect(keys.diskName("100%")).toBe("PetaSAN/Allocations/DiskNames/100%25");
    for (const name of ["Data", "a/b c", "..", "100%", "ÄÖü ✓"]) {
      expect(keys.parseDiskName(keys.diskName(name))).toBe(name.toLowerCase());
    }
    expect(encodeKeySegment("x.y")).toBe("x%2Ey");
    expect(() => keys.diskName("")).toThrow(/name/);
  });

  it("takes another root", () => {
    const custom = new ConsulKeys("sanpath/test-1");
    expect(custom.diskPath("00001", 2)).toBe("sanpath/test-1/Disks/00001/2");
    expect(custom.parseDiskPath("sanpath/test-1/Disks/00001/2")).toEqual({ diskId: "00001", index: 2 });
    expect(custom.parseDiskPath("PetaSAN/Disks/00001/2")).toBeUndefined();
  });

  it("rejects bad roots and bad parts with the field and the rule", () => {
    for (const root of ["", "/PetaSAN", "PetaSAN/", "a//b", "a/./b", "a b"]) {
      expect(() => new ConsulKeys(root), JSON.stringify(root)).toThrow(/consul\.root/);
    }
    expect(() => keys.disk("1")).toThrow(/disk_id: must be 5 digits/);
    expect(() => keys.disk("000001")).toThrow(/disk_id/);
    expect(() => keys.disk("0000a")).toThrow(/disk_id/);
    expect(() => keys.diskPath("00001", 0)).toThrow(/path_index/);
    expect(() => keys.diskPath("00001", 9)).toThrow(/path_index/);
    expect(() => keys.diskPath("00001", 1.5)).toThrow(/path_index/);
    expect(() => keys.assignmentPath("198.51.100.300")).toThrow(/ip/);
    expect(() => keys.allocatedIp("10.0.0")).toThrow(/ip/);
    expect(() => keys.node("")).toThrow(/node_name/);
    expect(() => keys.node("a/b")).toThrow(/node_name/);
    expect(() => keys.node("-a")).toThrow(/node_name/);
  });
});
