/**
 * The tgt driver's CHAP accounts. Accounts are node-wide in tgt (`--mode account --op new --user U
 * --password S`, then `--op bind --tid T --user U`); a target with a bound account requires CHAP.
 * tgt cannot show a secret, so this keeps a keyed fingerprint of the secret it set per user (in
 * memory) and re-creates the account when it does not know it or the secret changed. While an
 * account is re-created, every target bound to it is set offline so that nobody logs in without
 * CHAP in between. One user name has one secret on a node: two targets that use the same user
 * with different secrets are refused (FAILED_PRECONDITION). The secret goes to tgtd only: over
 * its control socket (the socket channel), or on tgtadm's command line for the few milliseconds
 * the call lasts (the tgtadm channel; tgtadm has no other way); never in logs or errors.
 *
 * Creating, re-creating and deleting an account touches every target bound to it: the driver runs
 * such operations alone (see `changedBy`).
 */
import { createHmac, randomBytes } from "node:crypto";
import { SanpathError } from "../errors/sanpath-error.js";
import { failedWith, secret } from "../exec/command-runner.js";
import type { ChapCredentials, DriverCallOptions, TargetSpec } from "./target-driver.js";
import { setTargetState, type Tgtadm } from "./tgt-admin.js";
import type { TgtModel } from "./tgt-model.js";
import type { TgtTarget } from "./tgt-show.js";

export class TgtChapAccounts {
  /** Keyed fingerprints of the CHAP secrets set here, per user (never the secrets). */
  private readonly secretFingerprints = new Map<string, string>();
  private readonly fingerprintKey = randomBytes(32);

  constructor(
    private readonly tgtadm: Tgtadm,
    private readonly model: TgtModel,
  ) {}

  /** Whether ensuring `spec` creates, re-creates or deletes a CHAP account (then it runs alone). */
  changedBy(spec: TargetSpec): boolean {
    const bound = this.model.target(spec.iqn)?.accounts ?? [];
    if (spec.chap === undefined) return bound.length > 0;
    const user = spec.chap.user;
    const known = this.secretFingerprints.get(user) === this.fingerprint(spec.chap.secret);
    return !known || !this.model.hasAccount(user) || bound.some((other) => other !== user);
  }

  /** Binds `chap`'s account to the target (creating or re-creating it) and unbinds any other. */
  async apply(
    target: TgtTarget,
    chap: ChapCredentials | undefined,
    options: DriverCallOptions,
  ): Promise<void> {
    const tid = String(target.tid);
    const unbindOthers = async (keep: string | undefined): Promise<void> => {
      for (const user of target.accounts.filter((candidate) => candidate !== keep)) {
        await this.tgtadm(["--op", "unbind", "--mode", "account", "--tid", tid, "--user", user], options);
        target.accounts = target.accounts.filter((candidate) => candidate !== user);
        if (this.model.boundElsewhere(user, target.tid).length === 0) await this.delete(user, options);
      }
    };
    if (chap === undefined) {
      await unbindOthers(undefined);
      return;
    }

    const fingerprint = this.fingerprint(chap.secret);
    const known = this.secretFingerprints.get(chap.user);
    const exists = this.model.hasAccount(chap.user);
    const boundElsewhere = this.model.boundElsewhere(chap.user, target.tid);

    const bindHere = async (): Promise<void> => {
      await this.tgtadm(["--op", "bind", "--mode", "account", "--tid", tid, "--user", chap.user], options);
      target.accounts.push(chap.user);
    };
    if (!exists) {
      await this.create(chap, options);
      await bindHere();
    } else if (known !== fingerprint) {
      if (known !== undefined && boundElsewhere.length > 0) {
        throw new SanpathError(
          "failed_precondition",
          `tgt keeps one CHAP secret per user on a node: user ${chap.user} is also used by ` +
            `${boundElsewhere.map((other) => other.iqn).join(", ")} with another secret`,
          { reason: "DRIVER_FAILED", field: "chap.secret" },
        );
      }
      const bound = target.accounts.includes(chap.user) ? [target, ...boundElsewhere] : boundElsewhere;
      await this.recreate(chap, bound, options);
      if (!target.accounts.includes(chap.user)) await bindHere();
    } else if (!target.accounts.includes(chap.user)) {
      await bindHere();
    }
    this.secretFingerprints.set(chap.user, fingerprint);
    // The new account is bound before old ones go: the target is never without CHAP.
    await unbindOthers(chap.user);
  }

  /** Deletes the accounts of a target tgtd no longer has that no other target uses. */
  async releaseDropped(target: TgtTarget, options: DriverCallOptions): Promise<void> {
    for (const user of target.accounts) {
      if (this.model.boundElsewhere(user, target.tid).length === 0) await this.delete(user, options);
    }
  }

  /** Replaces an account whose secret is unknown or stale, keeping its targets closed meanwhile. */
  private async recreate(
    chap: ChapCredentials,
    boundTargets: readonly TgtTarget[],
    options: DriverCallOptions,
  ): Promise<void> {
    const reopen = boundTargets.filter((candidate) => candidate.state === "ready");
    for (const candidate of reopen) await setTargetState(this.tgtadm, candidate, "offline", options);
    try {
      await this.delete(chap.user, options);
      for (const candidate of boundTargets) {
        candidate.accounts = candidate.accounts.filter((user) => user !== chap.user);
      }
      await this.create(chap, options);
      for (const candidate of boundTargets) {
        await this.tgtadm(
          ["--op", "bind", "--mode", "account", "--tid", String(candidate.tid), "--user", chap.user],
          options,
        );
        candidate.accounts.push(chap.user);
      }
    } finally {
      for (const candidate of reopen) await setTargetState(this.tgtadm, candidate, "ready", options);
    }
  }

  private async create(chap: ChapCredentials, options: DriverCallOptions): Promise<void> {
    await this.tgtadm(
      ["--op", "new", "--mode", "account", "--user", chap.user, "--password", secret(chap.secret)],
      options,
    );
    this.model.setAccount(chap.user, true);
  }

  private async delete(user: string, options: DriverCallOptions): Promise<void> {
    this.secretFingerprints.delete(user);
    try {
      await this.tgtadm(["--op", "delete", "--mode", "account", "--user", user], options);
    } catch (error) {
      if (!failedWith(error, /can't find the account|no such account/i)) throw error;
    }
    this.model.setAccount(user, false);
  }

  private fingerprint(value: string): string {
    return createHmac("sha256", this.fingerprintKey).update(value).digest("hex");
  }
}
