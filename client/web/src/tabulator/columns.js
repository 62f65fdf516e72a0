// Tabulator column definitions from the document's `meta.columns`: humanised headers with a
// type sign, cells shown by type (formatters.js), and an editor per type that checks what was
// typed before it leaves the cell; no editor for the primary key, read-only columns, or any
// column of a read-only sheet.
import { choiceEditor } from "./choice-editor.js";
import { dateEditor } from "./date-editor.js";
import { headerFilter } from "./filtering.js";
import { cellFormat, headerFormat } from "./formatters.js";
import { textEditor } from "./text-editor.js";

// Column widths are estimated from the characters of the header and of the first rows:
// Tabulator's fitData measured every cell drawn instead, a forced layout per column (~40 ms of
// a 10,000-row first render). Users resize columns from the header.
const SAMPLE_ROWS = 50;
const CHAR_PX = 8;
const PADDING_PX = 24;
const REQUIRED = "Required: a new row is saved once this is filled in";
const HEADER_EXTRA_PX = 70; // the type sign, the sort arrow and padding

/** What every column shares: the bounds of its width, and a resize handle in its header only
 * (one in every cell cost ~20 ms of a first render, and more on each scroll). Sorting is this
 * user's own (the document's order never changes), from the header's arrow only: a click on
 * the title selects the column. */
export const COLUMN_DEFAULTS = { minWidth: 80, maxWidth: 400, resizable: "header", headerSort: true };

/** The definitions for the columns of `sheet` (a Sheet) showing the rows `keys`. */
export function columnDefinitions(sheet, keys) {
  const sample = keys.slice(0, SAMPLE_ROWS).map((key) => sheet.rows.get(key));
  return sheet.columns().map((column) => {
    const editable = sheet.canEdit(column);
    const header = headerFormat(column, editable);
    const definition = {
      field: column.name,
      width: estimatedWidth(header.title, sample.map((row) => row?.get(column.name))),
      sorter: column.type === "boolean" ? "boolean" : ["integer", "number", "decimal"].includes(column.type) ? "number" : "string",
      ...header,
      ...headerFilter(column),
      ...cellFormat(column),
    };
    if (!editable) return { ...definition, cssClass: "cellsync-readonly" };
    if (column.required) Object.assign(definition, { cssClass: "cellsync-required", headerTooltip: REQUIRED });
    return { ...definition, ...editor(column) };
  });
}

function estimatedWidth(title, values) {
  const chars = Math.max(...values.map((value) => (value == null ? 0 : String(value).length)));
  const { minWidth, maxWidth } = COLUMN_DEFAULTS;
  const width = Math.max(chars * CHAR_PX + PADDING_PX, title.length * CHAR_PX + HEADER_EXTRA_PX);
  return Math.min(maxWidth, Math.max(minWidth, width));
}

/** The editor of `column`'s cells, as the grid uses it (a Tabulator editor function), for
 * other places that edit a cell the same way; `multiline`: text in a multiline field. */
export function cellEditor(column, { multiline = false } = {}) {
  return editor(column, multiline).editor;
}

function editor(column, multiline = false) {
  if (column.choices) return { editor: choiceEditor(column) };
  switch (column.type) {
    case "integer":
    case "number":
    case "decimal":
      return { editor: textEditor(column, { inputmode: "decimal" }) };
    case "boolean":
      // Toggled by a click on the tick or by Space (navigation.js); typing opens this editor,
      // which reads true/false/yes/no. A double click opens no editor: its clicks toggle.
      return { editor: textEditor(column), editable: false };
    case "date":
    case "datetime":
      return { editor: dateEditor(column) };
    default:
      return { editor: textEditor(column, {}, { multiline }) };
  }
}
