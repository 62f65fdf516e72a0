// Tabulator column definitions from the document's `meta.columns`: typed editors, and no editor
// for the primary key, read-only columns, or any column of a read-only sheet. Editors take any
// text: the sheet refuses what a column cannot take, and the grid shows why.
import { dateEditor } from "./date-editor.js";

const NUMERIC = new Set(["integer", "number", "decimal"]);
// Column widths are estimated from the characters of the header and of the first rows:
// Tabulator's fitData measured every cell drawn instead, a forced layout per column (~40 ms of
// a 10,000-row first render). Users resize columns from the header.
const SAMPLE_ROWS = 50;
const CHAR_PX = 8;
const PADDING_PX = 24;
const REQUIRED = "Required: a new row is saved once this is filled in";

/** What every column shares: the bounds of its width, and a resize handle in its header only
 * (one in every cell cost ~20 ms of a first render, and more on each scroll). */
export const COLUMN_DEFAULTS = { minWidth: 80, maxWidth: 400, resizable: "header" };

/** The definitions for the columns of `sheet` (a Sheet) showing the rows `keys`. */
export function columnDefinitions(sheet, keys) {
  const sample = keys.slice(0, SAMPLE_ROWS).map((key) => sheet.rows.get(key));
  return sheet.columns().map((column) => {
    const definition = {
      title: column.name,
      field: column.name,
      headerSort: false,
      width: estimatedWidth(column.name, sample.map((row) => row?.get(column.name))),
      ...display(column),
    };
    if (!sheet.canEdit(column)) return { ...definition, cssClass: "cellsync-readonly" };
    if (column.required) Object.assign(definition, { cssClass: "cellsync-required", headerTooltip: REQUIRED });
    return { ...definition, ...editor(column) };
  });
}

function estimatedWidth(title, values) {
  const chars = Math.max(title.length, ...values.map((value) => (value == null ? 0 : String(value).length)));
  const { minWidth, maxWidth } = COLUMN_DEFAULTS;
  return Math.min(maxWidth, Math.max(minWidth, chars * CHAR_PX + PADDING_PX));
}

function display(column) {
  if (column.type === "boolean") {
    return { formatter: "tickCross", formatterParams: { allowEmpty: true }, hozAlign: "center" };
  }
  return NUMERIC.has(column.type) ? { hozAlign: "right" } : {};
}

function editor(column) {
  if (column.choices) {
    const values = column.nullable ? ["", ...column.choices] : column.choices;
    return { editor: "list", editorParams: { values, autocomplete: true, listOnEmpty: true } };
  }
  switch (column.type) {
    case "integer":
    case "number":
    case "decimal":
      return { editor: "input", editorParams: { selectContents: true, elementAttributes: { inputmode: "decimal" } } };
    case "boolean":
      return { editor: "tickCross", editorParams: { tristate: column.nullable } };
    case "date":
    case "datetime":
      return { editor: dateEditor(column.type) };
    default:
      return { editor: "input", editorParams: { selectContents: true } };
  }
}
