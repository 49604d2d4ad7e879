/**
 * Tells when the node's IPv4 addresses change (one added or deleted, by sanpathd or anyone else),
 * so the data-path probe looks at once instead of at its next interval. It says only that
 * something changed; what changed is read afresh (the events can be lost or merged). The adapter
 * is ip-monitor-address-watch.ts (the kernel's netlink events through `ip monitor address`).
 */
export interface AddressWatch {
  /** Calls `onChange` after each change from now on, until stop(). */
  start(onChange: () => void): void;
  stop(): Promise<void>;
}
