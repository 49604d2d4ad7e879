/**
 * What the LIO driver lists, read off a LioState: the targets as ConfiguredTarget (LUNs, the
 * portals of every TPG, ACL and CHAP user) and the portals with the targets behind each.
 */
import type { LioState, LioTpg } from "./lio-state.js";
import type { ConfiguredTarget, ServicePortal } from "./target-driver.js";

export function configuredTargets(state: LioState): ConfiguredTarget[] {
  return state.targets.map((target) => toConfigured(target.iqn, target.tpgs, state));
}

export function servicePortals(state: LioState): ServicePortal[] {
  const portals = new Map<string, ServicePortal>();
  for (const target of state.targets) {
    for (const portal of target.tpgs.flatMap((tpg) => tpg.portals)) {
      const key = `${portal.ip}:${portal.port}`;
      const entry = portals.get(key) ?? { ip: portal.ip, port: portal.port, iqns: [] };
      if (!entry.iqns.includes(target.iqn)) entry.iqns.push(target.iqn);
      portals.set(key, entry);
    }
  }
  return [...portals.values()];
}

function toConfigured(iqn: string, tpgs: readonly LioTpg[], state: LioState): ConfiguredTarget {
  const lunTpg = tpgs.find((tpg) => tpg.luns.length > 0);
  const first = tpgs[0];
  const chapUser = first?.chapUserid ?? first?.acls.find((acl) => acl.chapUserid !== undefined)?.chapUserid;
  return {
    iqn,
    luns: (lunTpg?.luns ?? []).map((lun) => {
      const store = state.backstores.find(
        (b) => b.plugin === lun.backstore?.plugin && b.name === lun.backstore.name,
      );
      const device = store?.device ?? "";
      return {
        lun: lun.lun,
        backing: device.startsWith("/dev/rbd/") ? device.slice("/dev/rbd/".length) : device,
        backingType: store?.plugin ?? "",
      };
    }),
    portals: tpgs.flatMap((tpg) =>
      tpg.portals.map((portal) => ({ ...portal, enabled: tpg.enabled, tpgTag: tpg.tag })),
    ),
    acl: {
      allInitiators: first?.generateNodeAcls ?? false,
      initiatorIqns: [...new Set(tpgs.flatMap((tpg) => tpg.acls.map((acl) => acl.initiator)))].sort(),
    },
    ...(chapUser === undefined ? {} : { chapUser }),
  };
}
