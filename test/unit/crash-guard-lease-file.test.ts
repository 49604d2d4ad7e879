import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  LEASE_FILE_RECORD_BYTES,
  LeaseFileWriter,
  MAX_LEASE_FILE_MS,
  leaseFileRecord,
  parseLeaseFileRecord,
  readLeaseFile,
} from "../../src/crash-guard/lease-file.js";

type WriteArgs = [Buffer, number, number, number];

/**
 * Holds every write of a FileHandle until the test lets it through (a slow disk), and records what
 * each wrote and where.
 */
async function holdWrites(): Promise<{
  readonly calls: { record: string; position: number }[];
  readonly held: number;
  release(error?: Error): Promise<void>;
}> {
  const probe = await open(join(tmpdir(), "."), "r");
  const proto = Object.getPrototypeOf(probe) as FileHandle;
  await probe.close();
  // The unbound method: called below with each handle as `this`.
  const original: unknown = Reflect.get(proto, "write");
  const calls: { record: string; position: number }[] = [];
  const held: { open: (error?: Error) => void; done: Promise<unknown> }[] = [];
  vi.spyOn(proto, "write").mockImplementation(function (this: FileHandle, ...args: unknown[]) {
    const [buffer, offset, length, position] = args as WriteArgs;
    calls.push({ record: buffer.toString("latin1", offset, offset + length), position });
    let open: (error?: Error) => void = () => undefined;
    const gate = new Promise<void>((resolve, reject) => {
      open = (error) => {
        if (error !== undefined) reject(error);
        else resolve();
      };
    });
    const done = gate.then(
      () => Reflect.apply(original as () => Promise<unknown>, this, args) as Promise<unknown>,
    );
    held.push({ open, done });
    return done as never;
  });
  return {
    calls,
    get held() {
      return held.length;
    },
    async release(error) {
      const next = held.shift();
      next?.open(error);
      await next?.done.catch(() => undefined);
      // Let the writer see the outcome and start its next write.
      await new Promise((resolve) => setImmediate(resolve));
    },
  };
}

describe("crash guard lease file", () => {
  let dir = "";
  let file = "";

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "sanpath-lease-file-"));
    file = join(dir, "lease");
  });

  afterEach(() => {
    vi.restoreAllMocks();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a record is the value with 3 decimals, right-aligned, twice, then a newline: always the same length", () => {
    expect(leaseFileRecord(1_234.5)).toBe(`${"1234.500".padStart(20)} ${"1234.500".padStart(20)}\n`);
    for (const value of [0, 5, 999.9999, 123_456.789, 9_000_000_000_000.5, MAX_LEASE_FILE_MS]) {
      const record = leaseFileRecord(value);
      expect(record).toHaveLength(LEASE_FILE_RECORD_BYTES);
      expect(parseLeaseFileRecord(record)).toBe(Math.floor(value * 1000) / 1000);
    }
    // Rounded down to whole µs (never later than the deadline); negative as 0.
    expect(parseLeaseFileRecord(leaseFileRecord(1_000.0009))).toBe(1_000);
    expect(parseLeaseFileRecord(leaseFileRecord(-5))).toBe(0);
  });

  it("a read that overlapped a write (old digits and new mixed) is never taken for a deadline", () => {
    for (const [older, newer] of [
      [1_099, 1_100],
      [999.5, 1_000.25],
      [1_000.999, 1_001],
      [99_999.999, 100_000.001],
    ] as const) {
      const before = leaseFileRecord(older);
      const after = leaseFileRecord(newer);
      for (let split = 0; split <= LEASE_FILE_RECORD_BYTES; split += 1) {
        for (const mixed of [
          after.slice(0, split) + before.slice(split),
          before.slice(0, split) + after.slice(split),
        ]) {
          const value = parseLeaseFileRecord(mixed);
          if (value !== undefined) expect([older, newer]).toContain(value);
        }
      }
    }
  });

  it("open creates the file (mode 0600, empty: no deadline) or truncates one left behind", async () => {
    const created = await LeaseFileWriter.open(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, "utf8")).toBe("");
    expect(await readLeaseFile(file)).toBeUndefined();
    await created.close();

    writeFileSync(file, leaseFileRecord(9_000_000));
    chmodSync(file, 0o644);
    expect(await readLeaseFile(file)).toBe(9_000_000);
    const writer = await LeaseFileWriter.open(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(await readLeaseFile(file)).toBeUndefined();
    await writer.close();

    await expect(LeaseFileWriter.open(join(dir, "missing", "lease"))).rejects.toThrow();
  });

  it("each write is the whole record at offset 0: a shorter value after a longer one leaves nothing behind", async () => {
    const again = await LeaseFileWriter.open(file);
    const hold = await holdWrites();
    for (const value of [123_456_789.125, 5.5, 77_000.001]) {
      again.write(value);
      await hold.release();
      expect(readFileSync(file, "latin1")).toBe(leaseFileRecord(value));
      expect(await readLeaseFile(file)).toBe(value);
    }
    expect(hold.calls.map((call) => call.position)).toEqual([0, 0, 0]);
    expect(hold.calls.every((call) => call.record.length === LEASE_FILE_RECORD_BYTES)).toBe(true);
    await again.close();
  });

  it("one write at a time: while one is in flight, later values replace each other and only the newest follows it", async () => {
    const writer = await LeaseFileWriter.open(file);
    const hold = await holdWrites();
    writer.write(1_000);
    writer.write(1_250);
    writer.write(1_500);
    writer.write(1_750);
    expect(hold.held).toBe(1);
    expect(hold.calls.map((call) => call.record)).toEqual([leaseFileRecord(1_000)]);
    await hold.release();
    expect(await readLeaseFile(file)).toBe(1_000);
    expect(hold.held).toBe(1);
    expect(hold.calls.map((call) => call.record)).toEqual([leaseFileRecord(1_000), leaseFileRecord(1_750)]);
    await hold.release();
    expect(hold.held).toBe(0);
    expect(await readLeaseFile(file)).toBe(1_750);
    expect(hold.calls).toHaveLength(2);

    // Idle again: the next value is written at once.
    writer.write(2_000);
    expect(hold.held).toBe(1);
    await hold.release();
    expect(await readLeaseFile(file)).toBe(2_000);
    await writer.close();
  });

  it("never throws: ignores non-finite and too large values; a failed write is dropped, the next value written", async () => {
    const writer = await LeaseFileWriter.open(file);
    const hold = await holdWrites();
    expect(() => {
      writer.write(Number.NaN);
      writer.write(Number.POSITIVE_INFINITY);
      writer.write(Number.NEGATIVE_INFINITY);
      writer.write(MAX_LEASE_FILE_MS + 1);
    }).not.toThrow();
    expect(hold.calls).toEqual([]);

    writer.write(1_000);
    await hold.release(new Error("EIO"));
    expect(await readLeaseFile(file)).toBeUndefined();
    writer.write(2_000);
    await hold.release();
    expect(await readLeaseFile(file)).toBe(2_000);
    await writer.close();
  });

  it("close() waits for the write in flight; later writes are ignored", async () => {
    const writer = await LeaseFileWriter.open(file);
    const hold = await holdWrites();
    writer.write(1_000);
    writer.write(2_000); // pending behind the one in flight: dropped by close
    let closed = false;
    const closing = writer.close().then(() => (closed = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(closed).toBe(false);
    expect(writer.close()).toBe(writer.close());
    await hold.release();
    await closing;
    expect(closed).toBe(true);
    expect(await readLeaseFile(file)).toBe(1_000);
    expect(() => writer.write(3_000)).not.toThrow();
    expect(hold.calls).toHaveLength(1);
    expect(await readLeaseFile(file)).toBe(1_000);
  });

  it("readLeaseFile: undefined (never a throw) when the file is missing, empty or malformed", async () => {
    expect(await readLeaseFile(join(dir, "missing"))).toBeUndefined();
    expect(await readLeaseFile(dir)).toBeUndefined(); // a directory
    mkdirSync(join(dir, "sub"));
    expect(await readLeaseFile(join(dir, "sub", "missing"))).toBeUndefined();
    const good = leaseFileRecord(4_321.5);
    const malformed = [
      "",
      "\n",
      "4321.5\n",
      "lease-until 4321\n",
      `${"4321.500".padEnd(20)} ${"4321.500".padEnd(20)}\n`, // same length, aligned left
      good.slice(0, -1), // no newline
      good + "\n", // one byte more
      good.replace("\n", " "),
      leaseFileRecord(4_321.5).slice(0, 21) + leaseFileRecord(4_322.5).slice(21), // copies differ
      good.replace(/ /g, "x"),
      `${"-4321.500".padStart(20)} ${"-4321.500".padStart(20)}\n`,
      `${"4321.5".padStart(20)} ${"4321.5".padStart(20)}\n`.padStart(LEASE_FILE_RECORD_BYTES),
      `${"4 321.500".padStart(20)} ${"4 321.500".padStart(20)}\n`,
    ];
    for (const text of malformed) {
      writeFileSync(file, text);
      expect(await readLeaseFile(file), JSON.stringify(text)).toBeUndefined();
      expect(parseLeaseFileRecord(text), JSON.stringify(text)).toBeUndefined();
    }
    writeFileSync(file, good);
    expect(await readLeaseFile(file)).toBe(4_321.5);
  });
});
