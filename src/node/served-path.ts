import type { DiskPath } from "../disks/disk.js";
import { SanpathError } from "../errors/sanpath-error.js";
import type { TargetSpec } from "../iscsi/target-driver.js";
import type { DiskView } from "./disk-source.js";
import { pathNotFound } from "./node-errors.js";
import type { LocalPath } from "./path-journal.js";
import { pathDevice } from "./path-setup.js";

/** A path as this node serves it, for AcquirePath's answer and Status. */
export interface ServedPathView {
  diskId: string;
  index: number;
  ip: string;
  prefixLength: number;
  /** The device the IP is on ("eth1", "eth1.20"). */
  device: string;
  iqn: string;
  lockHeld: boolean;
  portalEnabled: boolean;
  ipPresent: boolean;
}

/** Interface per iSCSI subnet; the node serves no path of a subnet without one. */
export interface SubnetInterfaces {
  subnet1?: string | undefined;
  subnet2?: string | undefined;
}

export function servedPathView(
  entry: LocalPath,
  state: { lockHeld: boolean; portalEnabled: boolean; ipPresent: boolean },
): ServedPathView {
  return {
    diskId: entry.diskId,
    index: entry.index,
    ip: entry.ip,
    prefixLength: entry.prefixLength,
    device: pathDevice(entry),
    iqn: entry.iqn,
    ...state,
  };
}

/** The disk's path `index`; NOT_FOUND naming how many paths the disk has. */
export function diskPathOf(view: DiskView, index: number): DiskPath {
  const path = view.disk.paths.find((candidate) => candidate.index === index);
  if (path === undefined) throw pathNotFound(view.disk.id, index, view.disk.paths.length);
  return path;
}

/**
 * The path as it goes on this node: on the node's interface for the path's subnet. A node whose
 * config names no interface for that subnet does not serve it (its node record says so, and the
 * coordinator places no such path there); it never guesses an interface.
 */
export function localPathOf(
  nodeName: string,
  interfaces: SubnetInterfaces,
  view: DiskView,
  path: DiskPath,
): LocalPath {
  const configured = path.subnet === 1 ? interfaces.subnet1 : interfaces.subnet2;
  if (configured === undefined) {
    throw new SanpathError(
      "failed_precondition",
      `node ${nodeName} has no interface for iSCSI subnet ${path.subnet} (interfaces.subnet${path.subnet}): it cannot serve path ${path.index} of disk ${view.disk.id}`,
      { field: `interfaces.subnet${path.subnet}` },
    );
  }
  return {
    diskId: view.disk.id,
    index: path.index,
    ip: path.ip,
    prefixLength: path.prefixLength,
    interface: configured,
    vlanId: path.vlanId === 0 ? undefined : path.vlanId,
    iqn: view.disk.iqn,
    state: "configuring",
  };
}

/** The iSCSI target a disk's paths are served by. */
export function targetSpecOf(view: DiskView): TargetSpec {
  const { disk } = view;
  return {
    iqn: disk.iqn,
    backing: view.backing,
    acl:
      disk.acl.kind === "all"
        ? { allInitiators: true, initiatorIqns: [] }
        : { allInitiators: false, initiatorIqns: [...disk.acl.initiatorIqns] },
    chap: disk.chap === undefined ? undefined : { user: disk.chap.user, secret: disk.chap.secret },
  };
}
