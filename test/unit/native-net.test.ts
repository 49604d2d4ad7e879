/**
 * native/net.ts without the addon: how every kernel errno becomes a domain error (addressOutcome
 * for one address, netCallError for a whole call), and the channel's own deadline for a call the
 * addon never settles. The addon itself runs in test/integration/network-driver-netlink.contract.test.ts.
 */
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  ERRNO,
  addressOutcome,
  netCallError,
  openNetChannel,
  socketDestroyOutcome,
  type NativeAddressAnswer,
  type NativeNetBinding,
  type NativeNetError,
  type NativeNetTarget,
} from "../../native/net.js";
import { SanpathError } from "../../src/errors/sanpath-error.js";

const CHANGE = { device: "eth1", ip: "198.51.100.60", prefixLength: 24 };

function answer(errno: number, code: string, extra: Partial<NativeAddressAnswer> = {}): NativeAddressAnswer {
  return { errno, code, step: "address", ...extra };
}

function nativeError(
  fields: Partial<NativeNetError> & Pick<NativeNetError, "errno" | "code" | "step">,
): NativeNetError {
  return Object.assign(new Error(`net ${fields.op ?? "address_add"} failed in ${fields.step}`), {
    op: "address_add" as const,
    ...fields,
  });
}

describe("addressOutcome: the kernel's answer to one address", () => {
  it("done on 0; unchanged on EEXIST for an add and EADDRNOTAVAIL for a delete", () => {
    expect(addressOutcome("add", CHANGE, answer(0, "OK"))).toEqual({ kind: "done" });
    expect(addressOutcome("delete", CHANGE, answer(0, "OK"))).toEqual({ kind: "done" });
    expect(addressOutcome("add", CHANGE, answer(ERRNO.EEXIST, "EEXIST"))).toEqual({ kind: "unchanged" });
    expect(addressOutcome("delete", CHANGE, answer(ERRNO.EADDRNOTAVAIL, "EADDRNOTAVAIL"))).toEqual({
      kind: "unchanged",
    });
  });

  it("the opposite errnos are refusals, not confirmations", () => {
    const addNotAvailable = addressOutcome("add", CHANGE, answer(ERRNO.EADDRNOTAVAIL, "EADDRNOTAVAIL"));
    expect(addNotAvailable.kind).toBe("refused");
    const deleteExists = addressOutcome("delete", CHANGE, answer(ERRNO.EEXIST, "EEXIST"));
    expect(deleteExists.kind).toBe("refused");
  });

  it("no_device when the device was not found, naming it (DRIVER_FAILED)", () => {
    for (const found of [
      answer(ERRNO.ENODEV, "ENODEV", { step: "link" }),
      answer(ERRNO.ENODEV, "ENODEV", { step: "address" }),
    ]) {
      const outcome = addressOutcome("add", { ...CHANGE, device: "nosuch0" }, found, "sp-1-ab12-node");
      expect(outcome.kind).toBe("no_device");
      if (outcome.kind !== "no_device") continue;
      expect(outcome.error).toMatchObject({ kind: "internal", reason: "DRIVER_FAILED" });
      expect(outcome.error.message).toContain("there is no device nosuch0");
      expect(outcome.error.message).toContain(
        "adding 198.51.100.60/24 on nosuch0 in network namespace sp-1-ab12-node",
      );
      expect(outcome.error.message).toContain("ENODEV (errno -19)");
    }
  });

  it("says why for the errnos it knows, with the kernel's own message", () => {
    const cases: [NativeAddressAnswer, RegExp][] = [
      [answer(ERRNO.EPERM, "EPERM"), /not permitted, sanpathd needs CAP_NET_ADMIN/],
      [answer(ERRNO.EACCES, "EACCES"), /not permitted/],
      [
        answer(ERRNO.EINVAL, "EINVAL", { kernelMessage: "Invalid prefix length" }),
        /invalid.*EINVAL \(errno -22\); the kernel says: Invalid prefix length/,
      ],
      [answer(ERRNO.ENOBUFS, "ENOBUFS"), /out of memory/],
      [
        answer(-123, "EUNKNOWN"),
        /deleting 198\.51\.100\.60\/24 on eth1: the kernel refused \(EUNKNOWN \(errno -123\)\)/,
      ],
    ];
    for (const [given, message] of cases) {
      const outcome = addressOutcome("delete", CHANGE, given);
      expect(outcome.kind).toBe("refused");
      if (outcome.kind !== "refused") continue;
      expect(outcome.error).toMatchObject({ kind: "internal", reason: "DRIVER_FAILED" });
      expect(outcome.error.message).toMatch(message);
    }
  });
});

describe("netCallError: a call that failed as a whole", () => {
  const context = { netns: "sp-1-ab12-node", timeoutMs: 2500, device: "eth1" };

  it("a deadline is deadline_exceeded and names the timeout", () => {
    const error = netCallError(
      nativeError({ errno: ERRNO.ETIMEDOUT, code: "ETIMEDOUT", step: "deadline" }),
      context,
    );
    expect(error).toMatchObject({ kind: "deadline_exceeded", reason: "DRIVER_FAILED" });
    expect(error.message).toMatch(
      /did not answer net address_add in network namespace sp-1-ab12-node within 2500 ms/,
    );
  });

  it("maps the namespace, permission and device errnos to sentences; keeps the addon's error as cause", () => {
    const cases: [NativeNetError, RegExp][] = [
      [
        nativeError({ errno: ERRNO.ENOENT, code: "ENOENT", step: "open_netns", netns: "gone" }),
        /^network namespace gone does not exist$/,
      ],
      [
        nativeError({ errno: ERRNO.EPERM, code: "EPERM", step: "setns" }),
        /not permitted: sanpathd needs root/,
      ],
      [nativeError({ errno: ERRNO.EACCES, code: "EACCES", step: "socket" }), /not permitted/],
      [
        nativeError({ op: "gratuitous_arp", errno: ERRNO.ENODEV, code: "ENODEV", step: "SIOCGIFINDEX" }),
        /gratuitous_arp in network namespace sp-1-ab12-node: there is no device eth1 \(SIOCGIFINDEX: ENODEV \(errno -19\)\)/,
      ],
      [
        nativeError({ op: "gratuitous_arp", errno: ERRNO.ENETDOWN, code: "ENETDOWN", step: "device_down" }),
        /eth1 is down/,
      ],
      [
        nativeError({
          op: "gratuitous_arp",
          errno: ERRNO.EOPNOTSUPP,
          code: "EOPNOTSUPP",
          step: "device_noarp",
        }),
        /eth1 is not an Ethernet device that does ARP/,
      ],
      [nativeError({ errno: ERRNO.ENOBUFS, code: "ENOBUFS", step: "recv" }), /out of memory/],
    ];
    for (const [given, message] of cases) {
      const error = netCallError(given, context);
      expect(error).toMatchObject({ kind: "internal", reason: "DRIVER_FAILED" });
      expect(error.message).toMatch(message);
      expect(error.cause).toBe(given);
    }
  });

  it("an errno it does not know keeps the addon's message; a foreign error is wrapped; a SanpathError passes", () => {
    const odd = nativeError({ errno: -71, code: "EPROTO", step: "parse" });
    expect(netCallError(odd, context).message).toBe(odd.message);
    const foreign = netCallError(new TypeError("addAddresses: ip must be an IPv4 address"), context);
    expect(foreign).toMatchObject({ kind: "internal", reason: "DRIVER_FAILED" });
    expect(foreign.message).toContain("ip must be an IPv4 address");
    const domain = new SanpathError("cancelled", "gave up");
    expect(netCallError(domain, context)).toBe(domain);
  });
});

describe("socketDestroyOutcome: the kernel's answer to one socket", () => {
  const SOCKET = { localIp: "198.51.100.50", localPort: 3260, remoteIp: "198.51.100.9", remotePort: 40000 };

  it("destroyed on 0, gone on ENOENT (at the lookup or the destruction)", () => {
    expect(socketDestroyOutcome(SOCKET, { errno: 0, code: "OK", step: "destroy" })).toEqual({
      kind: "destroyed",
    });
    for (const step of ["lookup", "destroy"] as const) {
      expect(socketDestroyOutcome(SOCKET, { errno: ERRNO.ENOENT, code: "ENOENT", step })).toEqual({
        kind: "gone",
      });
    }
  });

  it("unsupported on EOPNOTSUPP, naming the kernel option; refused otherwise, naming the socket", () => {
    const unsupported = socketDestroyOutcome(
      SOCKET,
      { errno: ERRNO.EOPNOTSUPP, code: "EOPNOTSUPP", step: "destroy" },
      "sp-1-ab12-node",
    );
    expect(unsupported.kind).toBe("unsupported");
    if (unsupported.kind === "unsupported") {
      expect(unsupported.error).toMatchObject({ kind: "internal", reason: "DRIVER_FAILED" });
      expect(unsupported.error.message).toContain("CONFIG_INET_DIAG_DESTROY");
      expect(unsupported.error.message).toContain("in network namespace sp-1-ab12-node");
    }
    const refused = socketDestroyOutcome(SOCKET, { errno: ERRNO.EPERM, code: "EPERM", step: "destroy" });
    expect(refused.kind).toBe("refused");
    if (refused.kind === "refused") {
      expect(refused.error.message).toContain("198.51.100.50:3260 - 198.51.100.9:40000");
      expect(refused.error.message).toContain("CAP_NET_ADMIN");
    }
  });
});

describe("openNetChannel", () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  function fakeAddon(overrides: Partial<NativeNetBinding>): NativeNetBinding {
    const never = () => new Promise<never>(() => undefined);
    return {
      addAddresses: never,
      deleteAddresses: never,
      dumpAddresses: never,
      linkIndex: never,
      sendGratuitousArp: never,
      destroyTcpSockets: never,
      ...overrides,
    };
  }

  it("passes namespace and timeout, answers per change in order, and lists without ifindex", async () => {
    const targets: NativeNetTarget[] = [];
    const channel = openNetChannel(
      { netns: "sp-1-ab12-node", timeoutMs: 1500 },
      fakeAddon({
        addAddresses: (target, changes) => {
          targets.push(target);
          return Promise.resolve(
            changes.map((_, at) => (at === 0 ? answer(0, "OK") : answer(ERRNO.EEXIST, "EEXIST"))),
          );
        },
        dumpAddresses: (target) => {
          targets.push(target);
          return Promise.resolve([{ ip: "198.51.100.11", prefixLength: 24, device: "eth1", ifindex: 2 }]);
        },
        linkIndex: (_target, device) => Promise.resolve(device === "eth1" ? 2 : null),
      }),
    );
    expect(await channel.addAddresses([CHANGE, { ...CHANGE, ip: "198.51.100.61" }])).toEqual([
      { kind: "done" },
      { kind: "unchanged" },
    ]);
    expect(await channel.dumpAddresses()).toEqual([
      { ip: "198.51.100.11", prefixLength: 24, device: "eth1" },
    ]);
    expect(await channel.linkExists("eth1")).toBe(true);
    expect(await channel.linkExists("eth9")).toBe(false);
    expect(targets).toEqual([
      { netns: "sp-1-ab12-node", timeoutMs: 1500 },
      { netns: "sp-1-ab12-node", timeoutMs: 1500 },
    ]);
  });

  it("stops waiting for a call the addon never settles, shortly after its deadline", async () => {
    vi.useFakeTimers();
    const channel = openNetChannel({ timeoutMs: 1000 }, fakeAddon({}));
    const outcome = channel.sendGratuitousArp("eth1", "198.51.100.60").then(
      () => undefined,
      (error: unknown) => error,
    );
    await vi.advanceTimersByTimeAsync(1000);
    let settled = false;
    void outcome.then(() => (settled = true));
    await vi.advanceTimersByTimeAsync(0);
    expect(settled).toBe(false);
    await vi.advanceTimersByTimeAsync(600);
    expect(await outcome).toMatchObject({ kind: "deadline_exceeded", reason: "DRIVER_FAILED" });
  });

  it("destroyTcpSockets: one outcome per socket in order; none asked, no call; past its deadline, an error", async () => {
    const asked: unknown[] = [];
    const socket = { localIp: "198.51.100.50", localPort: 3260, remoteIp: "198.51.100.9", remotePort: 40000 };
    const channel = openNetChannel(
      { netns: "sp-1-ab12-node", timeoutMs: 1000 },
      fakeAddon({
        destroyTcpSockets: (target, sockets) => {
          asked.push(target, sockets);
          return Promise.resolve([
            { errno: 0, code: "OK", step: "destroy" as const },
            { errno: ERRNO.ENOENT, code: "ENOENT", step: "lookup" as const },
          ]);
        },
      }),
    );
    expect(await channel.destroyTcpSockets([socket, { ...socket, remotePort: 40001 }])).toEqual([
      { kind: "destroyed" },
      { kind: "gone" },
    ]);
    expect(asked).toEqual([
      { netns: "sp-1-ab12-node", timeoutMs: 1000 },
      [socket, { ...socket, remotePort: 40001 }],
    ]);
    expect(await channel.destroyTcpSockets([])).toEqual([]);
    expect(asked).toHaveLength(2);

    vi.useFakeTimers();
    const never = openNetChannel({ timeoutMs: 1000 }, fakeAddon({}));
    const outcome = never.destroyTcpSockets([socket]).then(
      () => undefined,
      (error: unknown) => error,
    );
    await vi.advanceTimersByTimeAsync(1600);
    expect(await outcome).toMatchObject({ kind: "deadline_exceeded", reason: "DRIVER_FAILED" });
  });

  it("a call failing as a whole rejects with the mapped error", async () => {
    const channel = openNetChannel(
      { timeoutMs: 1000 },
      fakeAddon({
        dumpAddresses: () =>
          Promise.reject(
            nativeError({ op: "address_dump", errno: ERRNO.EPERM, code: "EPERM", step: "socket" }),
          ),
      }),
    );
    await expect(channel.dumpAddresses()).rejects.toMatchObject({
      reason: "DRIVER_FAILED",
      message: /not permitted/,
    });
  });
});
