/**
 * The lease file: a second channel for sanpathd's lease deadline, beside the `lease-until` lines
 * of the guard's pipe (crash-guard.ts). The lines are written by sanpathd's main thread, so a
 * stall of its event loop would let the guard's lease timer run out although the lease keeps
 * being renewed (by a worker thread). That worker writes each deadline here (LeaseFileWriter);
 * the guard reads the file only when its lease timer expires (readLeaseFile,
 * crash-guard-main.ts): a deadline still ahead postpones the tear-down to it.
 *
 * The file holds one fixed-length record, always written whole at offset 0 (never truncated after
 * open): the deadline in CLOCK_MONOTONIC ms (util/monotonic-clock.ts) as a decimal with 3
 * decimals, right-aligned in RECORD_VALUE_CHARS, written twice separated by a space, then "\n".
 * A reader never sees two lengths mixed; the two copies catch a read that overlapped a write and
 * saw part of the old digits and part of the new ones (a mix that could be later than both): the
 * copies then differ and the read is retried, then counted as malformed.
 *
 * The writer truncates the file when it opens it, so a file left by an earlier process (or boot:
 * CLOCK_MONOTONIC restarts with the machine) says nothing; open it before the guard may consult it.
 */
import { open, type FileHandle } from "node:fs/promises";
import { NewestValueWriter } from "../util/newest-value-writer.js";

/** Width of one copy of the value: 16 integer digits, the point, 3 decimals. */
export const RECORD_VALUE_CHARS = 20;
/** Bytes of a whole record: two copies, a space between them, a newline. */
export const LEASE_FILE_RECORD_BYTES = 2 * RECORD_VALUE_CHARS + 2;
/**
 * The largest value written (CLOCK_MONOTONIC ms; about 285 years of uptime): its microseconds are
 * still exact integers.
 */
export const MAX_LEASE_FILE_MS = Math.floor(Number.MAX_SAFE_INTEGER / 1000);

/** How often readLeaseFile reads again when the two copies differ (a write was in progress). */
const TORN_READ_ATTEMPTS = 3;

/** One copy of the value: right-aligned digits, the point, 3 decimals. */
const VALUE = /^ *[0-9]{1,16}\.[0-9]{3}$/;

/**
 * The record for a deadline: rounded down to whole microseconds (never later than the deadline),
 * negative values as 0. The value must be finite and at most MAX_LEASE_FILE_MS.
 */
export function leaseFileRecord(monotonicMs: number): string {
  const micros = Math.floor(Math.max(0, monotonicMs) * 1000);
  const value = `${Math.floor(micros / 1000)}.${String(micros % 1000).padStart(3, "0")}`.padStart(
    RECORD_VALUE_CHARS,
    " ",
  );
  return `${value} ${value}\n`;
}

/**
 * The deadline of a record, or undefined when it is not one: wrong length, not two equal copies of
 * a right-aligned decimal with 3 decimals (two copies that differ: a read that overlapped a write).
 */
export function parseLeaseFileRecord(text: string): number | undefined {
  if (text.length !== LEASE_FILE_RECORD_BYTES) return undefined;
  const first = text.slice(0, RECORD_VALUE_CHARS);
  const second = text.slice(RECORD_VALUE_CHARS + 1, 2 * RECORD_VALUE_CHARS + 1);
  if (text[RECORD_VALUE_CHARS] !== " " || !text.endsWith("\n")) return undefined;
  if (first !== second || !VALUE.test(first)) return undefined;
  return Number(first);
}

/**
 * Writes lease deadlines to the lease file, at most one write at a time: while one is in flight,
 * later values replace each other and only the newest is written after it (NewestValueWriter, like
 * LeaseLineWriter). Each write is the whole fixed-length record at offset 0.
 */
export class LeaseFileWriter {
  private readonly writer: NewestValueWriter<number>;
  private closing: Promise<void> | undefined;

  private constructor(private readonly handle: FileHandle) {
    this.writer = new NewestValueWriter<number>((value, done) => {
      const record = Buffer.from(leaseFileRecord(value), "latin1");
      handle.write(record, 0, record.length, 0).then(() => done(), done);
    }, "continue");
  }

  /** Creates or truncates the file (mode 0600) and keeps it open. Rejects when it cannot. */
  static async open(path: string): Promise<LeaseFileWriter> {
    const handle = await open(path, "w", 0o600);
    try {
      // An existing file keeps its mode on open: the deadline is sanpathd's alone to write.
      await handle.chmod(0o600);
    } catch (error) {
      await handle.close().catch(() => undefined);
      throw error;
    }
    return new LeaseFileWriter(handle);
  }

  /**
   * The CLOCK_MONOTONIC instant (ms) by which the paths must be down unless a later one comes.
   * Never throws, never waits; ignored after close() and for a value that is not a finite number
   * in 0..MAX_LEASE_FILE_MS (a negative one is written as 0). A write that fails is dropped (the
   * next value is tried again).
   */
  write(monotonicMs: number): void {
    if (!Number.isFinite(monotonicMs) || monotonicMs > MAX_LEASE_FILE_MS) return;
    this.writer.write(monotonicMs);
  }

  /** Waits for the write in flight (a value still pending is dropped), then closes the file. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      await this.writer.close();
      await this.handle.close();
    })();
    return this.closing;
  }
}

/**
 * The deadline in the lease file (CLOCK_MONOTONIC ms); undefined when the file is missing, cannot
 * be read, is empty or malformed. Never throws.
 */
export async function readLeaseFile(path: string): Promise<number | undefined> {
  let handle: FileHandle;
  try {
    handle = await open(path, "r");
  } catch {
    return undefined;
  }
  try {
    // One read of one byte more than a record: a longer file is malformed too.
    const buffer = Buffer.alloc(LEASE_FILE_RECORD_BYTES + 1);
    for (let attempt = 1; attempt <= TORN_READ_ATTEMPTS; attempt += 1) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, 0);
      if (bytesRead !== LEASE_FILE_RECORD_BYTES) return undefined;
      // Not a record (copies that differ, digits after a space): most likely a read that
      // overlapped a write; a file that is really malformed only costs the retries.
      const value = parseLeaseFileRecord(buffer.toString("latin1", 0, bytesRead));
      if (value !== undefined) return value;
    }
    return undefined;
  } catch {
    return undefined;
  } finally {
    await handle.close().catch(() => undefined);
  }
}
