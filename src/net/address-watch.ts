/**
 * Tells when the node's IPv4 addresses change (one added or deleted, by sanpathd or anyone else),
 * so the data-path probe looks at once instead of at its next interval. It says which address
 * changed when it can tell (undefined when not); the state itself is read afresh, since events can
 * be lost or merged. The adapter is ip-monitor-address-watch.ts (the kernel's netlink events
 * through `ip monitor address`).
 */
export interface AddressWatch {
  /** Calls `onChange` after each change from now on, until stop(). */
  start(onChange: (change: AddressChange | undefined) => void): void;
  stop(): Promise<void>;
}

/** One IPv4 address added to or deleted from an interface of the node. */
export interface AddressChange {
  readonly kind: "added" | "deleted";
  readonly ip: string;
}

/**
 * What one line of `ip -o -4 monitor address` says changed ("Deleted " before the index for a
 * deletion), or undefined for a line that does not name an IPv4 address.
 */
export function addressChangeOf(line: string): AddressChange | undefined {
  const match = /^(Deleted\s+)?\d+:\s+\S+\s+inet\s+(\d{1,3}(?:\.\d{1,3}){3})\//.exec(line.trim());
  if (match === null) return undefined;
  const ip = match[2];
  if (ip === undefined) return undefined;
  return { kind: match[1] === undefined ? "added" : "deleted", ip };
}
