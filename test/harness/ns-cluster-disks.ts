/**
 * Disks of the test harness's cluster (test/harness/cluster-ns.ts), made the way AddDisk makes
 * them but without the coordinator: an RBD image with disk metadata, its allocation record and its
 * Consul keys.
 */
import { randomBytes } from "node:crypto";
import type { ConsulClient } from "../../src/consul/consul-client.js";
import type { ConsulKeys } from "../../src/consul/keys.js";
import { ALL_INITIATORS, type Disk, type DiskPath } from "../../src/disks/disk.js";
import { serializeDiskAllocation } from "../../src/disks/disk-allocation.js";
import { diskImageName } from "../../src/disks/disk-id.js";
import { DISK_METADATA_KEY, serializeDiskMetadata } from "../../src/disks/disk-metadata.js";
import type { CephHarness } from "./ceph.js";

export interface TestDiskSpec {
  /** 5 digits. */
  id: string;
  name?: string;
  /** Image size; default 64 MiB. */
  sizeMiB?: number;
  /** Path addresses in 198.51.100.0/24 (subnet 1, eth1) or 203.0.113.0/24 (subnet 2, eth2). */
  paths: readonly { ip: string }[];
  /** Initiator IQNs allowed; undefined = every initiator. */
  acl?: readonly string[];
  chap?: { user: string; secret: string };
}

export interface TestDisk {
  id: string;
  iqn: string;
  image: string;
  sizeBytes: number;
  disk: Disk;
}

export interface DiskContext {
  ceph: CephHarness;
  consul: ConsulClient;
  keys: ConsulKeys;
  iqnBase: string;
  /** The address prefixes ("198.51.100.") of iSCSI subnet 1 and 2. */
  subnets: readonly [string, string];
}

export async function createDisk(spec: TestDiskSpec, context: DiskContext): Promise<TestDisk> {
  const { ceph, consul, keys, iqnBase } = context;
  const [subnet1, subnet2] = context.subnets;
  const sizeMiB = spec.sizeMiB ?? 64;
  const image = diskImageName(spec.id);
  const paths: DiskPath[] = spec.paths.map((path, position) => {
    const subnet = path.ip.startsWith(subnet1) ? 1 : path.ip.startsWith(subnet2) ? 2 : undefined;
    if (subnet === undefined) throw new Error(`${path.ip} is in neither iSCSI subnet`);
    return {
      index: position + 1,
      ip: path.ip,
      prefixLength: 24,
      interface: `eth${subnet}`,
      vlanId: 0,
      subnet,
    };
  });
  const disk: Disk = {
    id: spec.id,
    name: spec.name ?? `disk-${spec.id}`,
    sizeGib: 1,
    createTime: new Date(),
    iqn: `${iqnBase}:${spec.id}`,
    pool: ceph.pool,
    acl: spec.acl === undefined ? ALL_INITIATORS : { kind: "initiators", initiatorIqns: [...spec.acl] },
    chap: spec.chap,
    paths,
  };
  await ceph.cli("rbd", ["create", "--size", `${sizeMiB}M`, "--image-feature", "layering", image]);
  await ceph.cli("rbd", ["image-meta", "set", image, DISK_METADATA_KEY, serializeDiskMetadata(disk)]);
  await consul.put(
    keys.allocatedDiskId(spec.id),
    serializeDiskAllocation({
      id: spec.id,
      name: disk.name,
      pool: ceph.pool,
      ips: paths.map((path) => path.ip),
      node: "test",
      token: randomBytes(8).toString("hex"),
      createTime: disk.createTime,
      state: "active",
    }),
  );
  for (const path of paths) await consul.put(keys.diskPath(spec.id, path.index), "");
  await consul.put(keys.disk(spec.id), "disk", { flags: 0 });
  return { id: spec.id, iqn: disk.iqn, image, sizeBytes: sizeMiB * 1024 * 1024, disk };
}
