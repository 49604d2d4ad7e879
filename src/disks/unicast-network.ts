import { formatCidr, overlaps, parseCidr, type Ipv4Network } from "./ipv4.js";

/**
 * Address blocks that cannot carry iSCSI portals: a path IP must be a unicast address that a
 * node can add to an interface and an initiator can reach (RFC 6890 special-purpose blocks).
 */
const NON_UNICAST_BLOCKS: readonly { readonly block: Ipv4Network; readonly what: string }[] = [
  { block: parseCidr("0.0.0.0/8", "block"), what: '"this network" (0.0.0.0/8)' },
  { block: parseCidr("127.0.0.0/8", "block"), what: "loopback (127.0.0.0/8)" },
  { block: parseCidr("169.254.0.0/16", "block"), what: "link-local (169.254.0.0/16)" },
  { block: parseCidr("224.0.0.0/4", "block"), what: "multicast (224.0.0.0/4)" },
  { block: parseCidr("240.0.0.0/4", "block"), what: "reserved and limited broadcast (240.0.0.0/4)" },
];

/** Why `network` cannot be an iSCSI subnet, or undefined when it is ordinary unicast space. */
export function nonUnicastProblem(network: Ipv4Network): string | undefined {
  const hit = NON_UNICAST_BLOCKS.find((entry) => overlaps(entry.block, network));
  if (hit === undefined) return undefined;
  return `${formatCidr(network)} is ${hit.what} address space; an iSCSI subnet must be unicast space`;
}

/** Why `name` cannot carry iSCSI paths, or undefined (the loopback device reaches no initiator). */
export function loopbackInterfaceProblem(name: string): string | undefined {
  return name === "lo"
    ? `"lo" is the loopback interface; iSCSI paths need an interface that initiators can reach`
    : undefined;
}
