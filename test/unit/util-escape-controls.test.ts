import { describe, expect, it } from "vitest";
import { formatFailure } from "../../src/cli/errors.js";
import { renderFields, renderTable } from "../../src/cli/table.js";
import { escapeControls } from "../../src/util/escape-controls.js";

describe("escapeControls", () => {
  it("writes control, line-separator and bidi characters as \\uXXXX and leaves the rest", () => {
    expect(escapeControls("a\u0007b")).toBe("a\\u0007b");
    expect(escapeControls("\u0000\t\n\r\u001b\u007f\u0085\u009b")).toBe(
      "\\u0000\\u0009\\u000a\\u000d\\u001b\\u007f\\u0085\\u009b",
    );
    expect(escapeControls("x\u2028y\u202ez\u2066")).toBe("x\\u2028y\\u202ez\\u2066");
    expect(escapeControls('Datenträger-数据 "quoted" \\ ok')).toBe('Datenträger-数据 "quoted" \\ ok');
  });

  it("is what the CLI prints: failures, tables and fields", () => {
    expect(
      formatFailure({ code: "INVALID_ARGUMENT", message: 'name: "a\u0007b"', field: "name" }, "table"),
    ).toBe('error: INVALID_ARGUMENT: name: "a\\u0007b"\n  field:  name');
    expect(renderTable([{ header: "name", value: (row: string) => row }], ["bell\u0007"])).toBe(
      "NAME\nbell\\u0007",
    );
    expect(renderFields([["Name", "esc\u001b[31m"]])).toBe("Name:  esc\\u001b[31m");
  });
});
