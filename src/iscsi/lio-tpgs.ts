/**
 * LIO TPGs, one per path (tag = path index, the path's IP as its only portal): where they are in
 * targetcli, which one serves a portal, and the steps that set a new one up or bring an existing
 * one's LUN, ACLs and CHAP in line with the TargetSpec (access is narrowed before it is widened:
 * generate_node_acls off before ACLs change, credentials set before authentication is switched on).
 */
import { secret } from "../exec/command-runner.js";
import { backstoreOf } from "./lio-backstores.js";
import type { LioCli } from "./lio-cli.js";
import type { LioTpg } from "./lio-state.js";
import { aclInitiators, type DriverCallOptions, type TargetSpec } from "./target-driver.js";

/** The LUN that carries the disk in every TPG (as PetaSAN does). */
export const LIO_DISK_LUN = 0;

export function tpgPath(iqn: string, tag: number): string {
  return `/iscsi/${iqn}/tpg${tag}`;
}

export function hasPortal(tpg: LioTpg, ip: string, port: number): boolean {
  return tpg.portals.some((portal) => portal.ip === ip && portal.port === port);
}

/** The lowest tag from 1 up whose TPG serves no portal. */
export function lowestFreeTag(tpgs: readonly LioTpg[]): number {
  let tag = 1;
  while (tpgs.some((tpg) => tpg.tag === tag && tpg.portals.length > 0)) tag += 1;
  return tag;
}

/** A new, disabled TPG with attributes, LUN, ACLs and CHAP; the portal comes next. */
export async function setUpNewTpg(
  cli: LioCli,
  spec: TargetSpec,
  tag: number,
  options: DriverCallOptions,
): Promise<LioTpg> {
  const path = tpgPath(spec.iqn, tag);
  const all = spec.acl.allInitiators;
  await cli.targetcli(
    path,
    "set",
    [
      "attribute",
      `generate_node_acls=${all ? 1 : 0}`,
      `authentication=${spec.chap === undefined ? 0 : 1}`,
      "demo_mode_write_protect=0",
      "cache_dynamic_acls=1",
    ],
    options,
  );
  await cli.targetcli(path, "set", ["parameter", "InitialR2T=No"], options);
  const store = backstoreOf(spec.backing);
  await cli.targetcli(
    `${path}/luns`,
    "create",
    [`/backstores/${store.plugin}/${store.name}`, `lun=${LIO_DISK_LUN}`, "add_mapped_luns=false"],
    options,
  );
  for (const initiator of aclInitiators(spec.acl)) {
    await cli.targetcli(`${path}/acls`, "create", [initiator, "add_mapped_luns=true"], options);
    if (spec.chap !== undefined) await setAuth(cli, `${path}/acls/${initiator}`, spec, options);
  }
  if (spec.chap !== undefined && all) await setAuth(cli, path, spec, options);
  return {
    tag,
    enabled: false,
    portals: [],
    luns: [{ lun: LIO_DISK_LUN, backstore: { plugin: store.plugin, name: store.name } }],
    acls: aclInitiators(spec.acl).map((initiator) => ({ initiator })),
    generateNodeAcls: all,
    authentication: spec.chap !== undefined,
  };
}

/** Brings an existing TPG's LUN, ACL and CHAP in line with the spec, narrowing first. */
export async function alignTpg(
  cli: LioCli,
  spec: TargetSpec,
  tpg: LioTpg,
  chapChanged: boolean,
  options: DriverCallOptions,
): Promise<void> {
  const path = tpgPath(spec.iqn, tpg.tag);
  const all = spec.acl.allInitiators;
  const wanted = aclInitiators(spec.acl);
  const current = tpg.acls.map((acl) => acl.initiator);
  const store = backstoreOf(spec.backing);
  if (!tpg.luns.some((lun) => lun.lun === LIO_DISK_LUN)) {
    await cli.targetcli(
      `${path}/luns`,
      "create",
      [`/backstores/${store.plugin}/${store.name}`, `lun=${LIO_DISK_LUN}`, "add_mapped_luns=true"],
      options,
    );
  }
  if (!all && tpg.generateNodeAcls)
    await cli.targetcli(path, "set", ["attribute", "generate_node_acls=0"], options);
  for (const initiator of current.filter((name) => !wanted.includes(name))) {
    await cli.targetcli(`${path}/acls`, "delete", [initiator], options);
  }
  for (const initiator of wanted) {
    const isNew = !current.includes(initiator);
    if (isNew) await cli.targetcli(`${path}/acls`, "create", [initiator, "add_mapped_luns=true"], options);
    if (spec.chap !== undefined && (isNew || chapChanged)) {
      await setAuth(cli, `${path}/acls/${initiator}`, spec, options);
    }
  }
  if (spec.chap !== undefined && all && (chapChanged || tpg.chapUserid !== spec.chap.user)) {
    await setAuth(cli, path, spec, options);
  }
  if (spec.chap !== undefined && !tpg.authentication) {
    await cli.targetcli(path, "set", ["attribute", "authentication=1"], options);
  }
  if (spec.chap === undefined && tpg.authentication) {
    await cli.targetcli(path, "set", ["attribute", "authentication=0"], options);
  }
  if (all && !tpg.generateNodeAcls)
    await cli.targetcli(path, "set", ["attribute", "generate_node_acls=1"], options);
}

/** CHAP credentials on a TPG or an ACL; the secret is passed masked. */
async function setAuth(
  cli: LioCli,
  path: string,
  spec: TargetSpec,
  options: DriverCallOptions,
): Promise<void> {
  if (spec.chap === undefined) return;
  await cli.targetcli(
    path,
    "set",
    ["auth", `userid=${spec.chap.user}`, secret(`password=${spec.chap.secret}`)],
    options,
  );
}
