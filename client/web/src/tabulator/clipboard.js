// Copy and paste of cell ranges in a Tabulator grid. A paste is written to the document as one
// transaction (one undo step); text is converted by column type, and cells that cannot take
// their value (or are read-only) are left alone.
import { formatTsv, parseTsv } from "../tsv.js";

/** The active range as {rows, columns}: row components and data columns, or null. */
export function selectedRange(table) {
  const range = table.getRanges()[0];
  if (!range) return null;
  const columns = range.getColumns().filter((column) => column.getField());
  const rows = range.getRows();
  return rows.length && columns.length ? { rows, columns } : null;
}

/** Puts the selected cells on the clipboard as tab-separated text. */
export function copySelection(table, event) {
  const range = selectedRange(table);
  if (!range) return;
  const values = range.rows.map((row) => {
    const data = row.getData();
    return range.columns.map((column) => data[column.getField()]);
  });
  event.clipboardData.setData("text/plain", formatTsv(values));
  event.preventDefault();
}

/** The edits a paste of `text` makes at the selection: a single value fills the selection,
 * anything else is laid out from its top-left cell. */
export function pasteEdits(table, text, keyOf) {
  const range = selectedRange(table);
  const values = parseTsv(text);
  if (!range || !values.length) return [];
  const allRows = table.getRows("active");
  const allColumns = table.getColumns().filter((column) => column.getField());
  const top = allRows.indexOf(range.rows[0]);
  const left = allColumns.indexOf(range.columns[0]);
  const fill = values.length === 1 && values[0].length === 1;
  const height = fill ? range.rows.length : values.length;
  const width = fill ? range.columns.length : Math.max(...values.map((row) => row.length));
  const edits = [];
  for (const [i, row] of allRows.slice(top, top + height).entries()) {
    for (const [j, column] of allColumns.slice(left, left + width).entries()) {
      const value = fill ? values[0][0] : values[i][j];
      if (value !== undefined) edits.push({ key: keyOf(row), column: column.getField(), value });
    }
  }
  return edits;
}
