import { escapeControls } from "../util/escape-controls.js";

/** One column of a table: a header and how to print a row's cell. */
export interface Column<Row> {
  header: string;
  value: (row: Row) => string;
  align?: "left" | "right";
}

/**
 * A plain-text table for people: upper-case headers, columns two spaces apart, no trailing
 * spaces, control characters in cells escaped. `empty` is printed under the headers when there
 * are no rows.
 */
export function renderTable<Row>(
  columns: readonly Column<Row>[],
  rows: readonly Row[],
  empty = "(none)",
): string {
  const cells = rows.map((row) => columns.map((column) => escapeControls(column.value(row))));
  const widths = columns.map((column, i) =>
    Math.max(column.header.length, ...cells.map((line) => (line[i] ?? "").length)),
  );
  const format = (line: readonly string[]): string =>
    line
      .map((cell, i) => {
        const width = widths[i] ?? cell.length;
        return columns[i]?.align === "right" ? cell.padStart(width) : cell.padEnd(width);
      })
      .join("  ")
      .trimEnd();
  const lines = [format(columns.map((column) => column.header.toUpperCase()))];
  if (cells.length === 0) lines.push(empty);
  for (const line of cells) lines.push(format(line));
  return lines.join("\n");
}

/** "Label:  value" lines with the values aligned, control characters in values escaped. */
export function renderFields(fields: readonly (readonly [string, string])[]): string {
  const width = Math.max(0, ...fields.map(([label]) => label.length + 1));
  return fields
    .map(([label, value]) => `${`${label}:`.padEnd(width)}  ${escapeControls(value)}`.trimEnd())
    .join("\n");
}
