/**
 * Parsers for `tgtadm --lld iscsi` listings (tgt 1.0.x text output; it has no machine format).
 *
 * `--op show --mode target`:
 *   Target 1: iqn.2024-01.org.example:00001
 *       System information:
 *           Driver: iscsi
 *           State: ready
 *       I_T nexus information:
 *           I_T nexus: 7
 *               Initiator: iqn.1994-05.com.example:client alias: none
 *               Connection: 0
 *                   IP Address: 198.51.100.9
 *       LUN information:
 *           LUN: 1
 *               Type: disk
 *               Backing store type: rdwr
 *               Backing store path: /var/lib/sanpath/disks/image-00001
 *       Account information:
 *           chapuser
 *           otheruser (outgoing)
 *       ACL information:
 *           ALL
 *           iqn.1994-05.com.example:client
 */

export interface TgtConnection {
  sessionId: number;
  connectionId: number;
  initiator: string;
  address: string;
}

export interface TgtLun {
  lun: number;
  type: string;
  backingStoreType: string;
  backingStorePath: string;
}

export interface TgtTarget {
  tid: number;
  iqn: string;
  state: string;
  connections: TgtConnection[];
  luns: TgtLun[];
  /** Incoming CHAP accounts bound to the target. */
  accounts: string[];
  outgoingAccounts: string[];
  /** Initiator address rules ("ALL", an IP or a CIDR). */
  aclAddresses: string[];
  /** Initiator name rules. */
  aclNames: string[];
}

/** A target with no LUN, connection, account or ACL rule yet (as `tgtadm --op new` makes one). */
export function emptyTgtTarget(tid: number, iqn: string, state: string): TgtTarget {
  return {
    tid,
    iqn,
    state,
    connections: [],
    luns: [],
    accounts: [],
    outgoingAccounts: [],
    aclAddresses: [],
    aclNames: [],
  };
}

export interface TgtPortal {
  ip: string;
  port: number;
}

type Section = "none" | "system" | "nexus" | "lun" | "account" | "acl";

export function parseTgtTargets(text: string): TgtTarget[] {
  const targets: TgtTarget[] = [];
  let target: TgtTarget | undefined;
  let section: Section = "none";
  let lun: TgtLun | undefined;
  let nexus: { sessionId: number; initiator: string; connectionId?: number } | undefined;

  for (const rawLine of text.split("\n")) {
    const line = rawLine.trim();
    if (line === "") continue;
    const header = /^Target (\d+): (\S+)$/.exec(line);
    if (header !== null && !rawLine.startsWith(" ")) {
      target = emptyTgtTarget(Number(header[1]), header[2] ?? "", "");
      targets.push(target);
      section = "none";
      continue;
    }
    if (target === undefined) continue;
    const nextSection = SECTION_HEADERS[line];
    if (nextSection !== undefined) {
      section = nextSection;
      continue;
    }
    switch (section) {
      case "system": {
        const state = /^State: (\S+)$/.exec(line);
        if (state !== null) target.state = state[1] ?? "";
        break;
      }
      case "nexus": {
        const id = /^I_T nexus: (\d+)$/.exec(line);
        if (id !== null) {
          nexus = { sessionId: Number(id[1]), initiator: "" };
          break;
        }
        const initiator = /^Initiator: (\S+)/.exec(line);
        if (initiator !== null && nexus !== undefined) nexus.initiator = initiator[1] ?? "";
        const connection = /^Connection: (\d+)$/.exec(line);
        if (connection !== null && nexus !== undefined) nexus.connectionId = Number(connection[1]);
        const address = /^IP Address: (\S+)$/.exec(line);
        if (address !== null && nexus?.connectionId !== undefined) {
          target.connections.push({
            sessionId: nexus.sessionId,
            connectionId: nexus.connectionId,
            initiator: nexus.initiator,
            address: address[1] ?? "",
          });
        }
        break;
      }
      case "lun": {
        const id = /^LUN: (\d+)$/.exec(line);
        if (id !== null) {
          lun = { lun: Number(id[1]), type: "", backingStoreType: "", backingStorePath: "" };
          target.luns.push(lun);
          break;
        }
        if (lun === undefined) break;
        const field = /^([^:]+): ?(.*)$/.exec(line);
        if (field === null) break;
        if (field[1] === "Type") lun.type = field[2] ?? "";
        if (field[1] === "Backing store type") lun.backingStoreType = field[2] ?? "";
        if (field[1] === "Backing store path") lun.backingStorePath = field[2] ?? "";
        break;
      }
      case "account": {
        const outgoing = /^(\S+) \(outgoing\)$/.exec(line);
        if (outgoing !== null) target.outgoingAccounts.push(outgoing[1] ?? "");
        else target.accounts.push(line);
        break;
      }
      case "acl":
        if (isInitiatorName(line)) target.aclNames.push(line);
        else target.aclAddresses.push(line);
        break;
      case "none":
        break;
    }
  }
  return targets;
}

const SECTION_HEADERS: Record<string, Section> = {
  "System information:": "system",
  "I_T nexus information:": "nexus",
  "LUN information:": "lun",
  "Account information:": "account",
  "ACL information:": "acl",
};

function isInitiatorName(entry: string): boolean {
  return /^(iqn|eui|naa)\./i.test(entry);
}

/** `--op show --mode portal`: "Portal: 198.51.100.50:3260,1", "Portal: [::]:3260,1". */
export function parseTgtPortals(text: string): TgtPortal[] {
  const portals: TgtPortal[] = [];
  for (const line of text.split("\n")) {
    const match = /^Portal: (?:\[([^\]]+)\]|([^:\s]+)):(\d+),\d+$/.exec(line.trim());
    if (match === null) continue;
    portals.push({ ip: match[1] ?? match[2] ?? "", port: Number(match[3]) });
  }
  return portals;
}

/** `--op show --mode account`: "Account list:" then one user per line. */
export function parseTgtAccounts(text: string): string[] {
  return text
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && line !== "Account list:");
}

export function isWildcardPortal(portal: TgtPortal): boolean {
  return portal.ip === "0.0.0.0" || portal.ip === "::";
}

/**
 * `--op show --mode conn --tid T`:
 *   Session: 1
 *       Connection: 0
 *           Initiator: iqn.2010-11.libiscsi:iscsi-perf
 *           IP Address: 198.51.100.9
 */
export function parseTgtConnections(text: string): TgtConnection[] {
  const connections: TgtConnection[] = [];
  let sessionId: number | undefined;
  let current: TgtConnection | undefined;
  for (const rawLine of text.split("\n")) {
    const line = rawLine.trim();
    const session = /^Session: (\d+)$/.exec(line);
    if (session !== null) {
      sessionId = Number(session[1]);
      continue;
    }
    const connection = /^Connection: (\d+)$/.exec(line);
    if (connection !== null && sessionId !== undefined) {
      current = { sessionId, connectionId: Number(connection[1]), initiator: "", address: "" };
      connections.push(current);
      continue;
    }
    if (current === undefined) continue;
    const initiator = /^Initiator: (\S+)/.exec(line);
    if (initiator !== null) current.initiator = initiator[1] ?? "";
    const address = /^IP Address: (\S+)$/.exec(line);
    if (address !== null) current.address = address[1] ?? "";
  }
  return connections;
}
