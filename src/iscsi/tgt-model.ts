import { PortalPairings } from "./portal-pairings.js";
import type { TgtPortal, TgtTarget } from "./tgt-show.js";

/**
 * What the tgt driver believes tgtd holds: targets (tid, state, LUNs, ACL rules, bound accounts),
 * the portals tgtd listens on, and the CHAP accounts. Loaded from `tgtadm --op show` and kept in
 * line by the driver after every command that succeeded, so that an operation needs no listing of
 * its own. It is only a belief: the driver re-reads tgtd whenever a command fails or finds tgtd
 * otherwise than described here, and when reconcile asks for an authoritative read. Connections
 * are not part of it (initiators open and close them on their own).
 */
export class TgtModel {
  private readonly byIqn = new Map<string, TgtTarget>();
  private readonly listeningAt = new Set<string>();
  private readonly accountUsers = new Set<string>();
  /** tids handed out for targets being created (the command is still running). */
  private readonly reservedTids = new Set<number>();
  private isLoaded = false;

  get loaded(): boolean {
    return this.isLoaded;
  }

  replace(targets: readonly TgtTarget[], portals: readonly TgtPortal[], accounts: readonly string[]): void {
    this.byIqn.clear();
    for (const target of targets) this.byIqn.set(target.iqn, { ...target, connections: [] });
    this.listeningAt.clear();
    for (const portal of portals) this.listeningAt.add(PortalPairings.key(portal.ip, portal.port));
    this.accountUsers.clear();
    for (const user of accounts) this.accountUsers.add(user);
    this.isLoaded = true;
  }

  /** The next re-read must happen before the model is used again. */
  invalidate(): void {
    this.isLoaded = false;
  }

  target(iqn: string): TgtTarget | undefined {
    return this.byIqn.get(iqn);
  }

  targets(): TgtTarget[] {
    return [...this.byIqn.values()].sort((left, right) => left.tid - right.tid);
  }

  /** A free tid (above every known or reserved one), reserved until `releaseTid`. */
  reserveTid(): number {
    const tid =
      Math.max(0, ...[...this.byIqn.values()].map((target) => target.tid), ...this.reservedTids) + 1;
    this.reservedTids.add(tid);
    return tid;
  }

  releaseTid(tid: number): void {
    this.reservedTids.delete(tid);
  }

  addTarget(target: TgtTarget): void {
    this.byIqn.set(target.iqn, target);
  }

  removeTarget(iqn: string): void {
    this.byIqn.delete(iqn);
  }

  isListening(key: string): boolean {
    return this.listeningAt.has(key);
  }

  listening(): string[] {
    return [...this.listeningAt].sort();
  }

  setListening(key: string, listening: boolean): void {
    if (listening) this.listeningAt.add(key);
    else this.listeningAt.delete(key);
  }

  hasAccount(user: string): boolean {
    return this.accountUsers.has(user);
  }

  setAccount(user: string, exists: boolean): void {
    if (exists) this.accountUsers.add(user);
    else this.accountUsers.delete(user);
  }

  /** Targets other than `tid` that have `user` bound. */
  boundElsewhere(user: string, tid: number): TgtTarget[] {
    return [...this.byIqn.values()].filter((other) => other.tid !== tid && other.accounts.includes(user));
  }
}
