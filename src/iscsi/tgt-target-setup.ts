/**
 * The steps that bring one tgt target's LUN and ACL in line with its TargetSpec.
 * - LUN 1 holds the disk (LUN 0 is tgt's controller): `--bstype rdwr` over a file, or
 *   `--bstype rbd --backing-store pool/image --bsopts conf=...;id=...` through librbd.
 * - ACL: tgt checks initiator names only when it has name rules; otherwise it wants an address
 *   rule. "All initiators" is the single address rule `-I ALL` (`--initiator-address ALL`); a
 *   restricted target has one `--initiator-name IQN` rule per initiator and no address rule (an
 *   `ALL` address rule would let every name in). A target with no rule accepts nobody, which is
 *   how a new target starts. Rules are removed before new ones are added, so a change never
 *   widens access even for a moment.
 */
import { SanpathError } from "../errors/sanpath-error.js";
import { aclInitiators, backingName, type DriverCallOptions, type TargetSpec } from "./target-driver.js";
import type { Tgtadm } from "./tgt-admin.js";
import type { TgtTarget } from "./tgt-show.js";

/** The LUN that carries the disk (LUN 0 is tgt's controller). */
export const TGT_DISK_LUN = 1;

/** The address rule that lets every initiator in. */
export const ALL_INITIATOR_ADDRESSES = "ALL";

/** Adds the disk LUN backed as `spec` says; refuses a LUN backed by something else. */
export async function ensureDiskLun(
  tgtadm: Tgtadm,
  target: TgtTarget,
  spec: TargetSpec,
  options: DriverCallOptions,
): Promise<void> {
  const wanted = backingName(spec.backing);
  const lun = target.luns.find((candidate) => candidate.lun === TGT_DISK_LUN);
  if (lun !== undefined) {
    if (lun.backingStorePath !== wanted) {
      throw new SanpathError(
        "failed_precondition",
        `LUN ${TGT_DISK_LUN} of ${spec.iqn} is backed by ${lun.backingStorePath}, not ${wanted}: drop the target first`,
        { reason: "DRIVER_FAILED" },
      );
    }
    return;
  }
  const backing =
    spec.backing.kind === "file"
      ? ["--bstype", "rdwr", "--backing-store", spec.backing.path]
      : [
          "--bstype",
          "rbd",
          "--backing-store",
          wanted,
          "--bsopts",
          `conf=${spec.backing.cephConf};id=${spec.backing.cephUser}`,
        ];
  const tid = String(target.tid);
  await tgtadm(
    ["--op", "new", "--mode", "logicalunit", "--tid", tid, "--lun", String(TGT_DISK_LUN), ...backing],
    options,
  );
  target.luns.push({
    lun: TGT_DISK_LUN,
    type: "disk",
    backingStoreType: backing[1] ?? "",
    backingStorePath: wanted,
  });
}

/** Replaces the target's ACL rules by those `spec` wants, removing before adding. */
export async function applyAcl(
  tgtadm: Tgtadm,
  target: TgtTarget,
  spec: TargetSpec,
  options: DriverCallOptions,
): Promise<void> {
  const tid = String(target.tid);
  const wantedAddresses = spec.acl.allInitiators ? [ALL_INITIATOR_ADDRESSES] : [];
  const wantedNames = aclInitiators(spec.acl);
  for (const address of target.aclAddresses.filter((entry) => !wantedAddresses.includes(entry))) {
    await tgtadm(
      ["--op", "unbind", "--mode", "target", "--tid", tid, "--initiator-address", address],
      options,
    );
    target.aclAddresses = target.aclAddresses.filter((entry) => entry !== address);
  }
  for (const name of target.aclNames.filter((entry) => !wantedNames.includes(entry))) {
    await tgtadm(["--op", "unbind", "--mode", "target", "--tid", tid, "--initiator-name", name], options);
    target.aclNames = target.aclNames.filter((entry) => entry !== name);
  }
  for (const name of wantedNames.filter((entry) => !target.aclNames.includes(entry))) {
    await tgtadm(["--op", "bind", "--mode", "target", "--tid", tid, "--initiator-name", name], options);
    target.aclNames.push(name);
  }
  for (const address of wantedAddresses.filter((entry) => !target.aclAddresses.includes(entry))) {
    await tgtadm(["--op", "bind", "--mode", "target", "--tid", tid, "--initiator-address", address], options);
    target.aclAddresses.push(address);
  }
}
