import { SanpathError } from "../errors/sanpath-error.js";

/**
 * A fixed-size set of small numbers 0..size-1, one bit each, stored in Consul as base64 text with
 * trailing zero bytes trimmed (an empty set is ""), so a record costs what its highest member needs:
 * 10 disk ids take 2 bytes, all 99,999 take 12.5 KB.
 */
export class Bitmap {
  private readonly bytes: Uint8Array;

  constructor(
    readonly size: number,
    bytes?: Uint8Array,
  ) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError(`not a bitmap size: ${size}`);
    this.bytes = new Uint8Array(Math.ceil(size / 8));
    if (bytes !== undefined) this.bytes.set(bytes.subarray(0, this.bytes.length));
  }

  /** Reads a stored record; `what` names it in the DATA_LOSS error when the text is not one. */
  static decode(text: string, size: number, what: string): Bitmap {
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 === 1) {
      throw new SanpathError("data_loss", `${what} is unreadable: not base64 text`);
    }
    const bytes = Buffer.from(text, "base64");
    const bitmap = new Bitmap(size);
    if (bytes.length > bitmap.bytes.length) {
      throw new SanpathError(
        "data_loss",
        `${what} is unreadable: ${bytes.length} bytes, more than the ${bitmap.bytes.length} of ${size} bits`,
      );
    }
    bitmap.bytes.set(bytes);
    // Bits past `size` in the last byte would be members that cannot exist.
    const last = bitmap.bytes[bitmap.bytes.length - 1] ?? 0;
    const usedBitsOfLast = size % 8;
    if (usedBitsOfLast !== 0 && last >>> usedBitsOfLast !== 0) {
      throw new SanpathError("data_loss", `${what} is unreadable: bits past ${size - 1} are set`);
    }
    return bitmap;
  }

  encode(): string {
    let end = this.bytes.length;
    while (end > 0 && this.bytes[end - 1] === 0) end--;
    return Buffer.from(this.bytes.subarray(0, end)).toString("base64");
  }

  clone(): Bitmap {
    return new Bitmap(this.size, this.bytes);
  }

  has(bit: number): boolean {
    this.check(bit);
    return ((this.bytes[bit >>> 3] ?? 0) & (1 << (bit & 7))) !== 0;
  }

  add(bit: number): void {
    this.check(bit);
    const at = bit >>> 3;
    this.bytes[at] = (this.bytes[at] ?? 0) | (1 << (bit & 7));
  }

  delete(bit: number): void {
    this.check(bit);
    const at = bit >>> 3;
    this.bytes[at] = (this.bytes[at] ?? 0) & ~(1 << (bit & 7));
  }

  isEmpty(): boolean {
    return this.bytes.every((byte) => byte === 0);
  }

  count(): number {
    let count = 0;
    for (const byte of this.bytes) {
      for (let value = byte; value !== 0; value &= value - 1) count++;
    }
    return count;
  }

  /** The lowest member not in the set, from `from` on; undefined when every one is taken. */
  firstAbsent(from = 0): number | undefined {
    for (let bit = from; bit < this.size; bit++) {
      // Whole bytes of members are skipped at once: 8 bits per step in a crowded map.
      if ((bit & 7) === 0 && this.bytes[bit >>> 3] === 0xff) {
        bit += 7;
        continue;
      }
      if (!this.has(bit)) return bit;
    }
    return undefined;
  }

  /** Every member, ascending. */
  *members(): Generator<number, void, undefined> {
    for (let at = 0; at < this.bytes.length; at++) {
      const byte = this.bytes[at] ?? 0;
      if (byte === 0) continue;
      for (let bit = 0; bit < 8; bit++) if ((byte & (1 << bit)) !== 0) yield at * 8 + bit;
    }
  }

  private check(bit: number): void {
    if (!Number.isInteger(bit) || bit < 0 || bit >= this.size) {
      throw new RangeError(`bit ${bit} is outside 0..${this.size - 1}`);
    }
  }
}
