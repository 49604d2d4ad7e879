/**
 * What the kernel LIO target has configured, read from configfs (the same tree targetcli and
 * rtslib read; targetcli has no machine-readable listing).
 *
 *   <root>/core/fileio_0/<backstore>/udev_path                 the file (iblock_N: the block device)
 *   <root>/iscsi/<iqn>/tpgt_<tag>/enable                        "1" when the TPG accepts logins
 *   <root>/iscsi/<iqn>/tpgt_<tag>/np/<ip>:<port>/               a portal
 *   <root>/iscsi/<iqn>/tpgt_<tag>/lun/lun_<n>/<link>            symlink to core/<hba>/<backstore>
 *   <root>/iscsi/<iqn>/tpgt_<tag>/acls/<initiator>/auth/userid  per-initiator CHAP user
 *   <root>/iscsi/<iqn>/tpgt_<tag>/attrib/{generate_node_acls,authentication}
 *   <root>/iscsi/<iqn>/tpgt_<tag>/auth/userid                   TPG-wide CHAP user
 *
 * Secrets (auth/password) are never read.
 */
import type { Dirent } from "node:fs";
import { readdir, readlink } from "node:fs/promises";
import { join } from "node:path";
import { readTextFile } from "../util/text-file.js";

export type LioBackstorePlugin = "fileio" | "block" | "ramdisk" | "pscsi" | "user";

export interface LioBackstore {
  plugin: LioBackstorePlugin;
  name: string;
  /** The file or block device behind it (udev_path). */
  device: string;
}

export interface LioLun {
  lun: number;
  backstore?: { plugin: LioBackstorePlugin; name: string };
}

export interface LioAcl {
  initiator: string;
  chapUserid?: string;
}

export interface LioTpg {
  tag: number;
  enabled: boolean;
  portals: { ip: string; port: number }[];
  luns: LioLun[];
  acls: LioAcl[];
  generateNodeAcls: boolean;
  authentication: boolean;
  chapUserid?: string;
}

export interface LioTarget {
  iqn: string;
  tpgs: LioTpg[];
}

export interface LioState {
  backstores: LioBackstore[];
  targets: LioTarget[];
}

export interface LioStateReader {
  read(): Promise<LioState>;
}

export const CONFIGFS_TARGET_ROOT = "/sys/kernel/config/target";

const HBA_PLUGINS: readonly [string, LioBackstorePlugin][] = [
  ["fileio_", "fileio"],
  ["iblock_", "block"],
  ["rd_mcp_", "ramdisk"],
  ["pscsi_", "pscsi"],
  ["user_", "user"],
];

/** Reads LioState from configfs (or from a tree laid out the same way, in tests). */
export class ConfigfsLioStateReader implements LioStateReader {
  constructor(private readonly root: string = CONFIGFS_TARGET_ROOT) {}

  async read(): Promise<LioState> {
    return { backstores: await this.readBackstores(), targets: await this.readTargets() };
  }

  private async readBackstores(): Promise<LioBackstore[]> {
    const backstores: LioBackstore[] = [];
    for (const hba of await directories(join(this.root, "core"))) {
      const plugin = pluginOfHba(hba);
      if (plugin === undefined) continue;
      for (const name of await directories(join(this.root, "core", hba))) {
        const device = (await readText(join(this.root, "core", hba, name, "udev_path"))) ?? "";
        backstores.push({ plugin, name, device });
      }
    }
    return backstores.sort((a, b) => `${a.plugin}/${a.name}`.localeCompare(`${b.plugin}/${b.name}`));
  }

  private async readTargets(): Promise<LioTarget[]> {
    const fabric = join(this.root, "iscsi");
    const targets: LioTarget[] = [];
    for (const iqn of await directories(fabric)) {
      if (iqn === "discovery_auth") continue;
      const tpgs: LioTpg[] = [];
      for (const tpgDir of await directories(join(fabric, iqn))) {
        const tag = /^tpgt_(\d+)$/.exec(tpgDir)?.[1];
        if (tag === undefined) continue;
        tpgs.push(await this.readTpg(join(fabric, iqn, tpgDir), Number(tag)));
      }
      targets.push({ iqn, tpgs: tpgs.sort((a, b) => a.tag - b.tag) });
    }
    return targets.sort((a, b) => a.iqn.localeCompare(b.iqn));
  }

  private async readTpg(path: string, tag: number): Promise<LioTpg> {
    const portals = (await directories(join(path, "np")))
      .map(parsePortalDir)
      .filter((portal): portal is { ip: string; port: number } => portal !== undefined);
    const luns: LioLun[] = [];
    for (const lunDir of await directories(join(path, "lun"))) {
      const lun = /^lun_(\d+)$/.exec(lunDir)?.[1];
      if (lun === undefined) continue;
      const backstore = await this.lunBackstore(join(path, "lun", lunDir));
      luns.push({ lun: Number(lun), ...(backstore === undefined ? {} : { backstore }) });
    }
    const acls: LioAcl[] = [];
    for (const initiator of await directories(join(path, "acls"))) {
      const userid = await readText(join(path, "acls", initiator, "auth", "userid"));
      acls.push({ initiator, ...(userid ? { chapUserid: userid } : {}) });
    }
    const userid = await readText(join(path, "auth", "userid"));
    return {
      tag,
      enabled: (await readText(join(path, "enable"))) === "1",
      portals,
      luns: luns.sort((a, b) => a.lun - b.lun),
      acls: acls.sort((a, b) => a.initiator.localeCompare(b.initiator)),
      generateNodeAcls: (await readText(join(path, "attrib", "generate_node_acls"))) === "1",
      authentication: (await readText(join(path, "attrib", "authentication"))) === "1",
      ...(userid ? { chapUserid: userid } : {}),
    };
  }

  private async lunBackstore(lunPath: string): Promise<LioLun["backstore"]> {
    for (const entry of await entries(lunPath)) {
      if (!entry.isSymbolicLink()) continue;
      const target = await readlink(join(lunPath, entry.name));
      const match = /core\/([^/]+)\/([^/]+)\/?$/.exec(target);
      const plugin = match === null ? undefined : pluginOfHba(match[1] ?? "");
      if (match !== null && plugin !== undefined) return { plugin, name: match[2] ?? "" };
    }
    return undefined;
  }
}

function pluginOfHba(hba: string): LioBackstorePlugin | undefined {
  return HBA_PLUGINS.find(([prefix]) => hba.startsWith(prefix))?.[1];
}

function parsePortalDir(name: string): { ip: string; port: number } | undefined {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(name);
  if (match === null) return undefined;
  return { ip: match[1] ?? match[2] ?? "", port: Number(match[3]) };
}

async function entries(path: string): Promise<Dirent[]> {
  try {
    return await readdir(path, { withFileTypes: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
}

async function directories(path: string): Promise<string[]> {
  return (await entries(path))
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort();
}

async function readText(path: string): Promise<string | undefined> {
  return (await readTextFile(path))?.trim();
}
