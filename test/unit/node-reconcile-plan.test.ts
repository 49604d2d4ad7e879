import type { KvEntry } from "../../src/kv/kv-store.js";
import { describe, expect, it } from "vitest";
import { ConsulKeys } from "../../src/consul/keys.js";
import type { LocalPath } from "../../src/node/path-journal.js";
import type { LocalObservation } from "../../src/node/path-setup.js";
import {
  clusterViewOf,
  decidePath,
  driftOf,
  planReconcile,
  type PathFacts,
} from "../../src/node/reconcile-plan.js";

const keys = new ConsulKeys("PetaSAN");
const OURS = "11111111-1111-1111-1111-111111111111";
const THEIRS = "22222222-2222-2222-2222-222222222222";

function entry(key: string, options: { session?: string; flags?: number; value?: string } = {}): KvEntry {
  return {
    key,
    value: options.value ?? "",
    flags: options.flags ?? 0,
    createIndex: 1,
    modifyIndex: 1,
    lockIndex: 0,
    ...(options.session === undefined ? {} : { session: options.session }),
  };
}

function local(diskId: string, index: number, ip: string, state: LocalPath["state"] = "served"): LocalPath {
  return {
    diskId,
    index,
    ip,
    prefixLength: 24,
    interface: "eth1",
    vlanId: undefined,
    iqn: `iqn.2016-05.org.example:${diskId}`,
    state,
  };
}

function observed(
  paths: readonly { ip: string; iqn: string; ipPresent?: boolean; portal?: boolean }[],
): LocalObservation {
  const iqns = [...new Set(paths.map((path) => path.iqn))];
  return {
    addresses: paths
      .filter((path) => path.ipPresent !== false)
      .map((path) => ({ ip: path.ip, prefixLength: 24, interface: "eth1" })),
    // One target per IQN, with a portal per path (as the drivers list them).
    targets: iqns.map((iqn) => ({
      iqn,
      luns: [],
      portals: paths
        .filter((path) => path.iqn === iqn)
        .map((path) => ({ ip: path.ip, port: 3260, enabled: path.portal !== false })),
      acl: { allInitiators: true, initiatorIqns: [] },
    })),
  };
}

describe("decidePath: local state must equal the locks our session holds, of running disks", () => {
  const complete = { ipPresent: true, portalEnabled: true };
  const served = local("00001", 1, "198.51.100.50");
  const cases: [string, ReturnType<typeof decidePath>, PathFacts][] = [
    [
      "locked, running, fully served",
      "none",
      { lockedByUs: true, disk: "running", local: served, presence: complete },
    ],
    [
      "locked, running, nothing here",
      "configure",
      { lockedByUs: true, disk: "running", local: undefined, presence: undefined },
    ],
    [
      "locked, running, IP gone",
      "configure",
      {
        lockedByUs: true,
        disk: "running",
        local: served,
        presence: { ipPresent: false, portalEnabled: true },
      },
    ],
    [
      "locked, running, portal off",
      "configure",
      {
        lockedByUs: true,
        disk: "running",
        local: served,
        presence: { ipPresent: true, portalEnabled: false },
      },
    ],
    [
      "locked, running, interrupted acquire",
      "configure",
      { lockedByUs: true, disk: "running", local: { ...served, state: "configuring" }, presence: complete },
    ],
    [
      "locked, running, interrupted clean",
      "release",
      { lockedByUs: true, disk: "running", local: { ...served, state: "cleaning" }, presence: complete },
    ],
    [
      "locked, disk stopped",
      "release",
      { lockedByUs: true, disk: "stopped", local: served, presence: complete },
    ],
    [
      "locked, disk deleted, nothing here",
      "release",
      { lockedByUs: true, disk: "missing", local: undefined, presence: undefined },
    ],
    [
      "not locked, configured here",
      "remove-local",
      { lockedByUs: false, disk: "running", local: served, presence: complete },
    ],
    [
      "not locked, left by a fence",
      "remove-local",
      { lockedByUs: false, disk: "running", local: { ...served, state: "cleaning" }, presence: undefined },
    ],
    [
      "not locked, nothing here",
      "none",
      { lockedByUs: false, disk: "stopped", local: undefined, presence: undefined },
    ],
  ];
  it.each(cases)("%s → %s", (_name, action, facts) => {
    expect(decidePath(facts)).toBe(action);
  });
});

describe("planReconcile over a listing of <root>/Disks/", () => {
  const listing = [
    entry("PetaSAN/Disks/00001", { value: "disk" }),
    entry("PetaSAN/Disks/00001/1", { session: OURS, value: "a" }),
    entry("PetaSAN/Disks/00001/2", { session: THEIRS, value: "b" }),
    entry("PetaSAN/Disks/00002", { value: "disk", flags: 1 }),
    entry("PetaSAN/Disks/00002/1", { session: OURS, value: "a" }),
    entry("PetaSAN/Disks/00003", { value: "disk" }),
    entry("PetaSAN/Disks/00003/1", { session: OURS, value: "a" }),
    entry("PetaSAN/Disks/00003/2", {}),
  ];

  it("groups disks and path keys, ignoring other keys", () => {
    const view = clusterViewOf(keys, [...listing, entry("PetaSAN/Disks/00001/x"), entry("PetaSAN/Nodes/a")]);
    expect([...view.disks]).toEqual([
      ["00001", "running"],
      ["00002", "stopped"],
      ["00003", "running"],
    ]);
    expect([...view.paths.keys()]).toEqual(["00001/1", "00001/2", "00002/1", "00003/1", "00003/2"]);
  });

  it("configures held paths, gives up stopped disks, removes what is not ours, leaves the rest", () => {
    const view = clusterViewOf(keys, listing);
    const here = [
      local("00001", 1, "198.51.100.50"),
      local("00001", 2, "198.51.100.51"),
      local("00002", 1, "198.51.100.52"),
    ];
    const plan = planReconcile(
      view,
      OURS,
      here,
      observed(here.map((path) => ({ ip: path.ip, iqn: path.iqn }))),
    );
    expect(plan.map(({ key, action }) => ({ key, action }))).toEqual([
      { key: "00001/2", action: "remove-local" },
      { key: "00002/1", action: "release" },
      { key: "00003/1", action: "configure" },
    ]);
  });

  it("without a local observation a served path counts as incomplete (configure is idempotent)", () => {
    const view = clusterViewOf(keys, listing);
    const plan = planReconcile(view, OURS, [local("00001", 1, "198.51.100.50")], undefined);
    expect(plan.map((item) => item.key)).toEqual(["00001/1", "00002/1", "00003/1"]);
  });

  it("a session that holds nothing and nothing local: nothing to do", () => {
    expect(
      planReconcile(clusterViewOf(keys, listing), "33333333-3333-3333-3333-333333333333", [], undefined),
    ).toEqual([]);
  });
});

describe("driftOf: where Consul and the node disagree", () => {
  it("names every kind, with the path's IP", () => {
    const listing = [
      entry("PetaSAN/Disks/00001", { value: "disk" }),
      entry("PetaSAN/Disks/00001/1", { session: OURS }),
      entry("PetaSAN/Disks/00001/2", { session: OURS }),
      entry("PetaSAN/Disks/00001/3", { session: THEIRS }),
      entry("PetaSAN/Disks/00002", { value: "disk", flags: 1 }),
      entry("PetaSAN/Disks/00002/1", { session: OURS }),
      entry("PetaSAN/Disks/00001/4", { session: OURS }),
    ];
    const here = [
      local("00001", 2, "198.51.100.52"),
      local("00001", 3, "198.51.100.53"),
      local("00002", 1, "198.51.100.60"),
      local("00001", 4, "198.51.100.54", "configuring"),
    ];
    const seen = observed([
      { ip: "198.51.100.52", iqn: here[0]?.iqn ?? "", ipPresent: false },
      { ip: "198.51.100.53", iqn: here[1]?.iqn ?? "" },
      { ip: "198.51.100.60", iqn: here[2]?.iqn ?? "" },
    ]);
    const drift = driftOf(clusterViewOf(keys, listing), OURS, here, seen);
    expect(drift.map(({ diskId, index, ip, kind }) => ({ path: `${diskId}/${index}`, ip, kind }))).toEqual([
      { path: "00001/1", ip: "", kind: "locked-not-configured" },
      { path: "00001/2", ip: "198.51.100.52", kind: "partial" },
      { path: "00001/3", ip: "198.51.100.53", kind: "configured-not-locked" },
      { path: "00001/4", ip: "198.51.100.54", kind: "partial" },
      { path: "00002/1", ip: "198.51.100.60", kind: "served-while-stopped" },
    ]);
    expect(drift.find((item) => item.index === 2)?.detail).toBe("IP missing");
    expect(drift.find((item) => item.index === 4)?.detail).toBe("the path is configuring");
  });

  it("no session: every local path is configured without the lock", () => {
    const listing = [
      entry("PetaSAN/Disks/00001", { value: "disk" }),
      entry("PetaSAN/Disks/00001/1", { session: THEIRS }),
    ];
    const drift = driftOf(
      clusterViewOf(keys, listing),
      undefined,
      [local("00001", 1, "198.51.100.50")],
      undefined,
    );
    expect(drift.map((item) => item.kind)).toEqual(["configured-not-locked"]);
  });
});
