/**
 * LIO backstores: the one a LunBacking needs (a file → fileio; an RBD image → block over the
 * kernel rbd device, mapped first), and their removal when a target is dropped (only those no
 * other target uses; an RBD device is unmapped after its backstore is deleted).
 */
import { basename } from "node:path";
import { SanpathError } from "../errors/sanpath-error.js";
import type { LioCli } from "./lio-cli.js";
import type { LioBackstorePlugin, LioState, LioTarget } from "./lio-state.js";
import type { DriverCallOptions, LunBacking, TargetSpec } from "./target-driver.js";

export interface BackstoreSpec {
  plugin: LioBackstorePlugin;
  name: string;
  device: string;
  createArgs: string[];
}

/** The backstore that carries `backing`; its name is the image name (or the file's base name). */
export function backstoreOf(backing: LunBacking): BackstoreSpec {
  if (backing.kind === "rbd") {
    const device = `/dev/rbd/${backing.pool}/${backing.image}`;
    return {
      plugin: "block",
      name: backing.image,
      device,
      createArgs: [`name=${backing.image}`, `dev=${device}`],
    };
  }
  const name = basename(backing.path).replace(/[^A-Za-z0-9_-]/g, "_");
  return {
    plugin: "fileio",
    name,
    device: backing.path,
    createArgs: [`name=${name}`, `file_or_dev=${backing.path}`, "write_back=false"],
  };
}

/** `rbd device map` the image unless `rbd device list` shows it mapped already. */
export async function ensureRbdMapped(
  cli: LioCli,
  backing: Extract<LunBacking, { kind: "rbd" }>,
  options: DriverCallOptions,
): Promise<void> {
  const { stdout } = await cli.rbd(["device", "list", "--format", "json"], options);
  let mapped: { pool?: string; name?: string; namespace?: string }[] = [];
  try {
    mapped = JSON.parse(stdout === "" ? "[]" : stdout) as typeof mapped;
  } catch (error) {
    throw new SanpathError("internal", "`rbd device list --format json` did not print JSON", {
      reason: "DRIVER_FAILED",
      cause: error,
    });
  }
  if (mapped.some((device) => device.pool === backing.pool && device.name === backing.image)) return;
  await cli.rbd(
    [
      "device",
      "map",
      `${backing.pool}/${backing.image}`,
      "--id",
      backing.cephUser,
      "--conf",
      backing.cephConf,
    ],
    options,
  );
}

/**
 * Deletes the backstores of target `iqn` (those its LUNs use in `state`, and the one its spec
 * names when known) that no other target uses, unmapping RBD devices after their backstore.
 */
export async function dropUnusedBackstores(
  cli: LioCli,
  state: LioState,
  iqn: string,
  target: LioTarget | undefined,
  spec: TargetSpec | undefined,
  options: DriverCallOptions,
): Promise<void> {
  const used = new Set(
    (target?.tpgs ?? []).flatMap((tpg) =>
      tpg.luns.flatMap((lun) =>
        lun.backstore === undefined ? [] : [`${lun.backstore.plugin}/${lun.backstore.name}`],
      ),
    ),
  );
  if (spec !== undefined) {
    const store = backstoreOf(spec.backing);
    used.add(`${store.plugin}/${store.name}`);
  }
  for (const key of used) {
    const usedElsewhere = state.targets.some(
      (other) =>
        other.iqn !== iqn &&
        other.tpgs.some((tpg) =>
          tpg.luns.some((lun) => `${lun.backstore?.plugin}/${lun.backstore?.name}` === key),
        ),
    );
    const backstore = state.backstores.find((b) => `${b.plugin}/${b.name}` === key);
    if (usedElsewhere || backstore === undefined) continue;
    await cli.targetcli(`/backstores/${backstore.plugin}`, "delete", [backstore.name], options);
    if (backstore.plugin === "block" && backstore.device.startsWith("/dev/rbd/")) {
      await cli.rbd(["device", "unmap", backstore.device], options);
    }
  }
}
