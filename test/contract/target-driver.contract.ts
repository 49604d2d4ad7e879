/**
 * The TargetDriver contract: what the node agent (src/node/path-setup.ts, reconcile) relies on
 * from every TargetDriver (TgtDriver over a real tgtd, the in-memory fake). Register it from a
 * test file with a factory that gives each test an empty target service:
 *
 *   targetDriverContract("TgtDriver", () => ({ driver, backingFiles, ips, external, close }));
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isSanpathError } from "../../src/errors/sanpath-error.js";
import type { TargetDriver, TargetSpec } from "../../src/iscsi/target-driver.js";
import { rejectionOf } from "./driver-rejection.js";

export interface TargetDriverFixture {
  /** A driver over a target service holding nothing. */
  driver: TargetDriver;
  /** Two absolute paths a LUN can be backed by. */
  backingFiles: readonly [string, string];
  /** At least four IPv4 addresses portals may be enabled at. */
  ips: readonly string[];
  /** Changes behind the driver's back (an administrator with the service's own tool). */
  external: {
    deleteTarget(iqn: string): Promise<void>;
    /** The service stops listening at ip:port (the pairing the driver keeps stays). */
    stopListening(ip: string, port: number): Promise<void>;
    /** The service's daemon dies (kill -9) and stays dead. */
    stopService(): Promise<void>;
    /** A new daemon starts (as systemd's Restart=always does): empty, answering. */
    startService(): Promise<void>;
  };
  close?: () => Promise<void>;
}

export type TargetDriverFactory = () => TargetDriverFixture | Promise<TargetDriverFixture>;

const INITIATOR_A = "iqn.1994-05.org.example:client-a";
const INITIATOR_B = "iqn.1994-05.org.example:client-b";
let nextBase = 0;

export function targetDriverContract(name: string, factory: TargetDriverFactory): void {
  describe(`TargetDriver contract: ${name}`, () => {
    let current: TargetDriverFixture | undefined;
    let base = "";
    beforeEach(async () => {
      current = await factory();
      nextBase += 1;
      base = `iqn.2016-05.org.sanpath.contract${process.pid}x${nextBase}`;
    });
    afterEach(async () => {
      const made = current;
      current = undefined;
      await made?.close?.();
    });
    const fx = (): TargetDriverFixture => {
      if (current === undefined) throw new Error("no fixture outside a test");
      return current;
    };
    const iqn = (disk: string): string => `${base}:${disk}`;
    const ip = (index: number): string => {
      const found = fx().ips[index];
      if (found === undefined) throw new Error(`the fixture has no ips[${index}]`);
      return found;
    };
    const spec = (disk: string, overrides: Partial<TargetSpec> = {}): TargetSpec => ({
      iqn: iqn(disk),
      backing: { kind: "file", path: fx().backingFiles[0] },
      acl: { allInitiators: true, initiatorIqns: [] },
      ...overrides,
    });
    const targetOf = async (driver: TargetDriver, disk: string, fresh = false) =>
      (await driver.listTargets({ fresh })).find((target) => target.iqn === iqn(disk));

    describe("targets", () => {
      it("starts empty; prepare is harmless, also twice", async () => {
        const { driver } = fx();
        expect(["tgt", "lio"]).toContain(driver.kind);
        await driver.prepare();
        await driver.prepare();
        expect(await driver.listTargets()).toEqual([]);
        expect(await driver.listTargets({ fresh: true })).toEqual([]);
        expect(await driver.listPortals({ fresh: true })).toEqual([]);
      });

      it("creates a target with LUN 1 over the backing and no portal; ensuring again changes nothing", async () => {
        const { driver, backingFiles } = fx();
        await driver.ensureTarget(spec("00001"));
        const listed = await driver.listTargets();
        expect(listed).toEqual([
          {
            iqn: iqn("00001"),
            ...(driver.kind === "tgt" ? { tid: expect.any(Number) as number } : {}),
            luns: [
              {
                lun: 1,
                backing: backingFiles[0],
                backingType: driver.kind === "tgt" ? "rdwr" : (expect.any(String) as string),
              },
            ],
            portals: [],
            acl: { allInitiators: true, initiatorIqns: [] },
          },
        ]);
        await driver.ensureTarget(spec("00001"));
        expect(await driver.listTargets()).toEqual(listed);
        expect(await driver.listTargets({ fresh: true })).toEqual(listed);
      });

      it("gives targets created at the same time distinct tids (tgt)", async () => {
        const { driver } = fx();
        await Promise.all(["00001", "00002", "00003"].map((disk) => driver.ensureTarget(spec(disk))));
        const listed = await driver.listTargets({ fresh: true });
        expect(listed.map((target) => target.iqn).sort()).toEqual(
          [iqn("00001"), iqn("00002"), iqn("00003")].sort(),
        );
        if (driver.kind === "tgt") expect(new Set(listed.map((target) => target.tid)).size).toBe(3);
      });

      it("restricts the ACL to the initiators named (sorted, once each), and widens it again", async () => {
        const { driver } = fx();
        const restricted = { allInitiators: false, initiatorIqns: [INITIATOR_B, INITIATOR_A, INITIATOR_B] };
        await driver.ensureTarget(spec("00001", { acl: restricted }));
        expect((await targetOf(driver, "00001"))?.acl).toEqual({
          allInitiators: false,
          initiatorIqns: [INITIATOR_A, INITIATOR_B],
        });
        expect((await targetOf(driver, "00001", true))?.acl).toEqual({
          allInitiators: false,
          initiatorIqns: [INITIATOR_A, INITIATOR_B],
        });
        await driver.ensureTarget(
          spec("00001", { acl: { allInitiators: false, initiatorIqns: [INITIATOR_B] } }),
        );
        expect((await targetOf(driver, "00001", true))?.acl.initiatorIqns).toEqual([INITIATOR_B]);
        await driver.ensureTarget(spec("00001"));
        expect((await targetOf(driver, "00001", true))?.acl).toEqual({
          allInitiators: true,
          initiatorIqns: [],
        });
      });

      it("refuses a LUN backed by something else until the target is dropped", async () => {
        const { driver, backingFiles } = fx();
        await driver.ensureTarget(spec("00001"));
        const other = spec("00001", { backing: { kind: "file", path: backingFiles[1] } });
        const error = await rejectionOf(driver.ensureTarget(other));
        expect(error.kind).toBe("failed_precondition");
        expect((await targetOf(driver, "00001", true))?.luns[0]?.backing).toBe(backingFiles[0]);
        await driver.dropTarget(iqn("00001"));
        await driver.ensureTarget(other);
        expect((await targetOf(driver, "00001", true))?.luns[0]?.backing).toBe(backingFiles[1]);
      });

      it("drops a target; dropping it again, or one never made, is a no-op", async () => {
        const { driver } = fx();
        await driver.ensureTarget(spec("00001"));
        await driver.ensureTarget(spec("00002"));
        await driver.dropTarget(iqn("00001"));
        await driver.dropTarget(iqn("00001"));
        await driver.dropTarget(iqn("09999"));
        expect((await driver.listTargets()).map((target) => target.iqn)).toEqual([iqn("00002")]);
        expect((await driver.listTargets({ fresh: true })).map((target) => target.iqn)).toEqual([
          iqn("00002"),
        ]);
      });
    });

    describe("CHAP", () => {
      const first = { user: "contract-user", secret: "first-secret-123" };
      const second = { user: "contract-user", secret: "second-secret-456" };

      it("lists the CHAP user, never the secret; a new secret replaces the old; no CHAP removes it", async () => {
        const { driver } = fx();
        await driver.ensureTarget(spec("00001", { chap: first }));
        await driver.ensureTarget(spec("00001", { chap: first }));
        const listed = await driver.listTargets({ fresh: true });
        expect(listed[0]?.chapUser).toBe(first.user);
        expect(JSON.stringify(listed)).not.toContain(first.secret);
        await driver.ensureTarget(spec("00001", { chap: second }));
        expect((await targetOf(driver, "00001", true))?.chapUser).toBe(first.user);
        await driver.ensureTarget(spec("00001"));
        expect((await targetOf(driver, "00001", true))?.chapUser).toBeUndefined();
      });

      it("shares a user between targets with the same secret only (field chap.secret, no secret in the error)", async () => {
        const { driver } = fx();
        await driver.ensureTarget(spec("00001", { chap: first }));
        await driver.ensureTarget(spec("00002", { chap: first }));
        const error = await rejectionOf(driver.ensureTarget(spec("00002", { chap: second })));
        expect(error).toMatchObject({ kind: "failed_precondition", field: "chap.secret" });
        expect(error.message).not.toContain(first.secret);
        expect(error.message).not.toContain(second.secret);
        await driver.dropTarget(iqn("00001"));
        expect((await targetOf(driver, "00002", true))?.chapUser).toBe(first.user);
        // The user is only the second target's now: its secret may change.
        await driver.ensureTarget(spec("00002", { chap: second }));
        expect((await targetOf(driver, "00002", true))?.chapUser).toBe(first.user);
      });
    });

    describe("portals", () => {
      it("enables a portal (default port 3260) once, however often asked", async () => {
        const { driver } = fx();
        await driver.ensureTarget(spec("00001"));
        await driver.enablePortal({ iqn: iqn("00001"), ip: ip(0), pathIndex: 1 });
        await driver.enablePortal({ iqn: iqn("00001"), ip: ip(0), port: 3260, pathIndex: 1 });
        expect(await driver.isPortalEnabled({ iqn: iqn("00001"), ip: ip(0) })).toBe(true);
        expect(await driver.isPortalEnabled({ iqn: iqn("00001"), ip: ip(0), port: 3260 })).toBe(true);
        expect(await driver.isPortalEnabled({ iqn: iqn("00001"), ip: ip(0), port: 3261 })).toBe(false);
        expect(await driver.isPortalEnabled({ iqn: iqn("00001"), ip: ip(1) })).toBe(false);
        expect(await driver.isPortalEnabled({ iqn: iqn("09999"), ip: ip(0) })).toBe(false);
        for (const fresh of [false, true]) {
          expect((await targetOf(driver, "00001", fresh))?.portals).toEqual([
            expect.objectContaining({ ip: ip(0), port: 3260, enabled: true }),
          ]);
          expect(await driver.listPortals({ fresh })).toEqual([
            { ip: ip(0), port: 3260, iqns: [iqn("00001")] },
          ]);
        }
      });

      it("enables a portal at another port", async () => {
        const { driver } = fx();
        await driver.ensureTarget(spec("00001"));
        await driver.enablePortal({ iqn: iqn("00001"), ip: ip(0), port: 3261 });
        expect(await driver.isPortalEnabled({ iqn: iqn("00001"), ip: ip(0), port: 3261 })).toBe(true);
        expect(await driver.isPortalEnabled({ iqn: iqn("00001"), ip: ip(0) })).toBe(false);
        expect(await driver.listPortals({ fresh: true })).toEqual([
          { ip: ip(0), port: 3261, iqns: [iqn("00001")] },
        ]);
      });

      it("refuses a portal of a target that does not exist (FAILED_PRECONDITION), and sets nothing up", async () => {
        const { driver } = fx();
        const error = await rejectionOf(driver.enablePortal({ iqn: iqn("09999"), ip: ip(0) }));
        expect(error.kind).toBe("failed_precondition");
        expect(await driver.isPortalEnabled({ iqn: iqn("09999"), ip: ip(0) })).toBe(false);
        expect(await driver.listPortals({ fresh: true })).toEqual([]);
        expect(await driver.listTargets({ fresh: true })).toEqual([]);
      });

      it("disables one of a target's portals, then the last; disabling again or unknown ones is a no-op", async () => {
        const { driver } = fx();
        await driver.ensureTarget(spec("00001"));
        await driver.enablePortal({ iqn: iqn("00001"), ip: ip(0), pathIndex: 1 });
        await driver.enablePortal({ iqn: iqn("00001"), ip: ip(1), pathIndex: 2 });
        await driver.disablePortal({ iqn: iqn("00001"), ip: ip(0) });
        expect(await driver.isPortalEnabled({ iqn: iqn("00001"), ip: ip(0) })).toBe(false);
        expect(await driver.isPortalEnabled({ iqn: iqn("00001"), ip: ip(1) })).toBe(true);
        expect((await targetOf(driver, "00001", true))?.portals).toEqual([
          expect.objectContaining({ ip: ip(1), port: 3260, enabled: true }),
        ]);
        await driver.disablePortal({ iqn: iqn("00001"), ip: ip(1) });
        await driver.disablePortal({ iqn: iqn("00001"), ip: ip(1) });
        await driver.disablePortal({ iqn: iqn("09999"), ip: ip(2) });
        expect(await driver.isPortalEnabled({ iqn: iqn("00001"), ip: ip(1) })).toBe(false);
        expect((await targetOf(driver, "00001", true))?.portals).toEqual([]);
        expect(await driver.listPortals({ fresh: true })).toEqual([]);
        // The target is still there, and can be served again.
        await driver.enablePortal({ iqn: iqn("00001"), ip: ip(1) });
        expect(await driver.isPortalEnabled({ iqn: iqn("00001"), ip: ip(1) })).toBe(true);
      });

      it("two targets at one portal: disabling one leaves the other enabled there", async () => {
        const { driver } = fx();
        for (const disk of ["00002", "00001"]) {
          await driver.ensureTarget(spec(disk));
          await driver.enablePortal({ iqn: iqn(disk), ip: ip(0) });
        }
        expect(await driver.listPortals({ fresh: true })).toEqual([
          { ip: ip(0), port: 3260, iqns: [iqn("00001"), iqn("00002")] },
        ]);
        await driver.disablePortal({ iqn: iqn("00001"), ip: ip(0) });
        expect(await driver.isPortalEnabled({ iqn: iqn("00001"), ip: ip(0) })).toBe(false);
        expect(await driver.isPortalEnabled({ iqn: iqn("00002"), ip: ip(0) })).toBe(true);
        expect(await driver.listPortals({ fresh: true })).toEqual([
          { ip: ip(0), port: 3260, iqns: [iqn("00002")] },
        ]);
      });

      it("dropping a target removes its portals but not one another target still uses", async () => {
        const { driver } = fx();
        for (const disk of ["00001", "00002"]) await driver.ensureTarget(spec(disk));
        await driver.enablePortal({ iqn: iqn("00001"), ip: ip(0) });
        await driver.enablePortal({ iqn: iqn("00001"), ip: ip(1) });
        await driver.enablePortal({ iqn: iqn("00002"), ip: ip(1) });
        await driver.dropTarget(iqn("00001"));
        expect(await driver.isPortalEnabled({ iqn: iqn("00001"), ip: ip(0) })).toBe(false);
        expect(await driver.listPortals({ fresh: true })).toEqual([
          { ip: ip(1), port: 3260, iqns: [iqn("00002")] },
        ]);
        expect(await driver.isPortalEnabled({ iqn: iqn("00002"), ip: ip(1) })).toBe(true);
        // A target made again under the same name starts without portals.
        await driver.ensureTarget(spec("00001"));
        expect((await targetOf(driver, "00001", true))?.portals).toEqual([]);
        expect(await driver.isPortalEnabled({ iqn: iqn("00001"), ip: ip(0) })).toBe(false);
      });

      it("sets several paths up and tears them down at the same time", async () => {
        const { driver } = fx();
        const disks = ["00001", "00002", "00003"];
        await Promise.all(
          disks.map(async (disk, index) => {
            await driver.ensureTarget(spec(disk));
            await driver.enablePortal({ iqn: iqn(disk), ip: ip(index) });
            await driver.enablePortal({ iqn: iqn(disk), ip: ip(3) });
          }),
        );
        for (const [index, disk] of disks.entries()) {
          expect(await driver.isPortalEnabled({ iqn: iqn(disk), ip: ip(index) })).toBe(true);
        }
        expect((await driver.listPortals({ fresh: true })).map((portal) => portal.iqns.length)).toEqual(
          expect.arrayContaining([1, 1, 1, 3]),
        );
        await Promise.all(
          disks.flatMap((disk, index) => [
            driver.disablePortal({ iqn: iqn(disk), ip: ip(index) }),
            driver.disablePortal({ iqn: iqn(disk), ip: ip(3) }),
          ]),
        );
        expect(await driver.listPortals({ fresh: true })).toEqual([]);
        for (const target of await driver.listTargets({ fresh: true })) expect(target.portals).toEqual([]);
        await Promise.all(disks.map((disk) => driver.dropTarget(iqn(disk))));
        expect(await driver.listTargets({ fresh: true })).toEqual([]);
      });
    });

    describe("what the driver believes and what is there", () => {
      it("after its own changes, believed and fresh listings agree", async () => {
        const { driver } = fx();
        await driver.ensureTarget(spec("00001", { chap: { user: "u1", secret: "secret-0001" } }));
        await driver.ensureTarget(spec("00002"));
        await driver.enablePortal({ iqn: iqn("00001"), ip: ip(0) });
        await driver.enablePortal({ iqn: iqn("00002"), ip: ip(1) });
        await driver.disablePortal({ iqn: iqn("00002"), ip: ip(1) });
        expect(await driver.listTargets()).toEqual(await driver.listTargets({ fresh: true }));
        expect(await driver.listPortals()).toEqual(await driver.listPortals({ fresh: true }));
      });

      it("a target deleted behind its back: a fresh read shows it gone, and setting the path up again (one retry) works", async () => {
        const { driver, external } = fx();
        await driver.ensureTarget(spec("00001"));
        await driver.enablePortal({ iqn: iqn("00001"), ip: ip(0) });
        await external.deleteTarget(iqn("00001"));
        expect(await targetOf(driver, "00001", true)).toBeUndefined();
        // The fresh read corrected the belief.
        expect(await driver.listTargets()).toEqual(await driver.listTargets({ fresh: true }));
        // PathSetup.configure: ensureTarget then enablePortal, once more after a retryable failure.
        const configure = async (): Promise<void> => {
          await driver.ensureTarget(spec("00001"));
          await driver.enablePortal({ iqn: iqn("00001"), ip: ip(0) });
        };
        await configure().catch(async (error: unknown) => {
          expect(isSanpathError(error) && ["internal", "failed_precondition"].includes(error.kind)).toBe(
            true,
          );
          await configure();
        });
        expect(await driver.isPortalEnabled({ iqn: iqn("00001"), ip: ip(0) })).toBe(true);
        expect((await targetOf(driver, "00001", true))?.portals).toEqual([
          expect.objectContaining({ ip: ip(0), enabled: true }),
        ]);
      });

      it("a listener deleted behind its back: a fresh read shows the portal not enabled; enabling it again restores it", async () => {
        const { driver, external } = fx();
        await driver.ensureTarget(spec("00001"));
        await driver.enablePortal({ iqn: iqn("00001"), ip: ip(0) });
        await driver.enablePortal({ iqn: iqn("00001"), ip: ip(1) });
        await external.stopListening(ip(0), 3260);
        expect(await driver.isPortalEnabled({ iqn: iqn("00001"), ip: ip(0) }, { fresh: true })).toBe(false);
        expect((await targetOf(driver, "00001", true))?.portals).toEqual([
          expect.objectContaining({ ip: ip(0), enabled: false }),
          expect.objectContaining({ ip: ip(1), enabled: true }),
        ]);
        expect(await driver.listPortals()).toEqual([{ ip: ip(1), port: 3260, iqns: [iqn("00001")] }]);
        await driver.enablePortal({ iqn: iqn("00001"), ip: ip(0) });
        expect(await driver.isPortalEnabled({ iqn: iqn("00001"), ip: ip(0) }, { fresh: true })).toBe(true);
        expect(await driver.listPortals({ fresh: true })).toHaveLength(2);
      });

      it("an observing read shows a listener deleted behind its back without changing what it believes", async () => {
        const { driver, external } = fx();
        await driver.ensureTarget(spec("00001"));
        await driver.enablePortal({ iqn: iqn("00001"), ip: ip(0) });
        await driver.enablePortal({ iqn: iqn("00001"), ip: ip(1) });
        await external.stopListening(ip(0), 3260);
        const observed = (await driver.listTargets({ observe: true })).find(
          (target) => target.iqn === iqn("00001"),
        );
        expect(observed?.portals).toEqual([
          expect.objectContaining({ ip: ip(0), enabled: false }),
          expect.objectContaining({ ip: ip(1), enabled: true }),
        ]);
        // Not corrected: the next believed listing still says enabled (a fresh read corrects it).
        expect((await targetOf(driver, "00001"))?.portals).toEqual([
          expect.objectContaining({ ip: ip(0), enabled: true }),
          expect.objectContaining({ ip: ip(1), enabled: true }),
        ]);
        expect((await targetOf(driver, "00001", true))?.portals[0]?.enabled).toBe(false);
      });

      it("a dead daemon fails fresh reads and changes (DRIVER_FAILED); restarted, it is empty and a path is set up again", async () => {
        const { driver, external } = fx();
        await driver.ensureTarget(spec("00001"));
        await driver.enablePortal({ iqn: iqn("00001"), ip: ip(0) });
        await external.stopService();
        try {
          for (const call of [
            () => driver.listTargets({ fresh: true }),
            () => driver.ensureTarget(spec("00002")),
          ]) {
            const error = await rejectionOf(call());
            expect(isSanpathError(error) && error.reason).toBe("DRIVER_FAILED");
          }
        } finally {
          await external.startService();
        }
        expect(await driver.listTargets({ fresh: true })).toEqual([]);
        const again = async (): Promise<void> => {
          await driver.ensureTarget(spec("00001"));
          await driver.enablePortal({ iqn: iqn("00001"), ip: ip(0) });
        };
        // As after a target deleted behind its back: the driver may find out on the first try.
        await again().catch(again);
        const target = await targetOf(driver, "00001", true);
        expect(target?.portals).toEqual([{ ip: ip(0), port: 3260, enabled: true }]);
      });

      it("a target deleted behind its back can still be torn down and dropped", async () => {
        const { driver, external } = fx();
        await driver.ensureTarget(spec("00001"));
        await driver.enablePortal({ iqn: iqn("00001"), ip: ip(0) });
        await external.deleteTarget(iqn("00001"));
        await driver.disablePortal({ iqn: iqn("00001"), ip: ip(0) });
        await driver.dropTarget(iqn("00001"));
        expect(await driver.listTargets({ fresh: true })).toEqual([]);
        expect(await driver.listPortals({ fresh: true })).toEqual([]);
      });
    });

    describe("callers that gave up", () => {
      it("a call whose signal has aborted rejects and changes nothing", async () => {
        const { driver } = fx();
        await driver.ensureTarget(spec("00001"));
        await driver.enablePortal({ iqn: iqn("00001"), ip: ip(0) });
        const before = await driver.listTargets({ fresh: true });
        const signal = AbortSignal.abort();
        const calls: Promise<unknown>[] = [
          driver.ensureTarget(spec("00002"), { signal }),
          driver.ensureTarget(
            spec("00001", { acl: { allInitiators: false, initiatorIqns: [INITIATOR_A] } }),
            {
              signal,
            },
          ),
          driver.enablePortal({ iqn: iqn("00001"), ip: ip(1) }, { signal }),
          driver.disablePortal({ iqn: iqn("00001"), ip: ip(0) }, { signal }),
          driver.dropTarget(iqn("00001"), { signal }),
        ];
        for (const call of calls) {
          const error = await rejectionOf(call);
          expect(["cancelled", "deadline_exceeded"]).toContain(error.kind);
        }
        expect(await driver.listTargets({ fresh: true })).toEqual(before);
      });
    });

    describe("validation", () => {
      it("names the field at fault (INVALID_FIELD) and sets nothing up", async () => {
        const { driver } = fx();
        const rbd = {
          kind: "rbd" as const,
          pool: "rbd",
          image: "img",
          cephConf: "/etc/ceph/ceph.conf",
          cephUser: "admin",
        };
        const cases: [TargetSpec, string][] = [
          [spec("00001", { iqn: "not an iqn" }), "iqn"],
          [spec("00001", { backing: { kind: "file", path: "relative/path" } }), "backing.path"],
          [spec("00001", { backing: { kind: "file", path: "/srv/a;reboot" } }), "backing.path"],
          [spec("00001", { backing: { ...rbd, pool: "rbd pool" } }), "backing.pool"],
          [spec("00001", { backing: { ...rbd, image: "" } }), "backing.image"],
          [spec("00001", { backing: { ...rbd, cephUser: "client.admin" } }), "backing.cephUser"],
          [spec("00001", { backing: { ...rbd, cephConf: "ceph.conf" } }), "backing.cephConf"],
          [spec("00001", { acl: { allInitiators: false, initiatorIqns: [] } }), "acl.initiatorIqns"],
          [
            spec("00001", { acl: { allInitiators: false, initiatorIqns: [INITIATOR_A, "bad"] } }),
            "acl.initiatorIqns[1]",
          ],
          [spec("00001", { chap: { user: "has space", secret: "secret-1234" } }), "chap.user"],
          [spec("00001", { chap: { user: "user", secret: "quote'd" } }), "chap.secret"],
        ];
        for (const [bad, field] of cases) {
          expect(await rejectionOf(driver.ensureTarget(bad))).toMatchObject({
            kind: "invalid_argument",
            reason: "INVALID_FIELD",
            field,
          });
        }
        const secretCase = await rejectionOf(
          driver.ensureTarget(spec("00001", { chap: { user: "u", secret: "a b" } })),
        );
        expect(secretCase.message).not.toContain("a b");
        await driver.ensureTarget(spec("00001"));
        const portals: [Parameters<TargetDriver["enablePortal"]>[0], string][] = [
          [{ iqn: "nope", ip: ip(0) }, "iqn"],
          [{ iqn: iqn("00001"), ip: "198.51.100.500" }, "ip"],
          [{ iqn: iqn("00001"), ip: "2001:db8::1" }, "ip"],
          [{ iqn: iqn("00001"), ip: ip(0), port: 0 }, "port"],
          [{ iqn: iqn("00001"), ip: ip(0), port: 65536 }, "port"],
          [{ iqn: iqn("00001"), ip: ip(0), port: 3260.5 }, "port"],
        ];
        for (const [bad, field] of portals) {
          for (const call of [
            driver.enablePortal(bad),
            driver.disablePortal(bad),
            driver.isPortalEnabled(bad),
          ]) {
            expect(await rejectionOf(call)).toMatchObject({ reason: "INVALID_FIELD", field });
          }
        }
        expect(await rejectionOf(driver.dropTarget("nope"))).toMatchObject({
          reason: "INVALID_FIELD",
          field: "iqn",
        });
        expect((await driver.listTargets({ fresh: true })).map((target) => target.iqn)).toEqual([
          iqn("00001"),
        ]);
        expect(await driver.listPortals({ fresh: true })).toEqual([]);
      });
    });
  });
}
