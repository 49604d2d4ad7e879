import { describe, expect, it } from "vitest";
import { Bitmap } from "../../src/util/bitmap.js";

describe("Bitmap", () => {
  it("stores members as base64 with trailing zero bytes trimmed", () => {
    const bitmap = new Bitmap(99_999);
    expect(bitmap.encode()).toBe("");
    bitmap.add(0);
    bitmap.add(9);
    expect(bitmap.encode()).toBe(Buffer.from([0b1, 0b10]).toString("base64"));
    bitmap.add(99_998);
    expect(Buffer.from(bitmap.encode(), "base64")).toHaveLength(12_500);
    const back = Bitmap.decode(bitmap.encode(), 99_999, "ids");
    expect([...back.members()]).toEqual([0, 9, 99_998]);
    expect(back.count()).toBe(3);
    bitmap.delete(99_998);
    expect(Buffer.from(bitmap.encode(), "base64")).toHaveLength(2);
  });

  it("finds the lowest absent member, skipping full bytes, and says when none is left", () => {
    const bitmap = new Bitmap(20);
    for (let bit = 0; bit < 17; bit++) bitmap.add(bit);
    expect(bitmap.firstAbsent()).toBe(17);
    bitmap.delete(3);
    expect(bitmap.firstAbsent()).toBe(3);
    expect(bitmap.firstAbsent(4)).toBe(17);
    for (let bit = 0; bit < 20; bit++) bitmap.add(bit);
    expect(bitmap.firstAbsent()).toBeUndefined();
  });

  it("refuses text that is not a record of that size (DATA_LOSS)", () => {
    expect(() => Bitmap.decode("not base64!", 16, "rec")).toThrow(/rec is unreadable/);
    expect(() => Bitmap.decode(Buffer.from([1, 2, 3]).toString("base64"), 16, "rec")).toThrow(/3 bytes/);
    // Bit 12 of a 10-bit map.
    expect(() => Bitmap.decode(Buffer.from([0, 0b10000]).toString("base64"), 10, "rec")).toThrow(/past 9/);
    expect([...Bitmap.decode(Buffer.from([0, 0b10]).toString("base64"), 10, "rec").members()]).toEqual([9]);
  });

  it("refuses members outside its size", () => {
    const bitmap = new Bitmap(8);
    expect(() => bitmap.add(8)).toThrow(RangeError);
    expect(() => bitmap.has(-1)).toThrow(RangeError);
  });
});
