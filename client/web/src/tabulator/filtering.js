// Which rows a user's filter or search keeps. A filter is typed under a column's header: text
// the cell shows (any case), or for numbers a comparison (`>10`, `<=2.5`, `=3`), for booleans
// a word (yes, no, true, false). The search keeps rows where any cell shows the text.
import { humanise } from "../column-titles.js";

/** How long typing pauses before the rows are filtered again. */
export const FILTER_DELAY_MS = 150;
const COMPARISON = /^(<=|>=|<|>|=)\s*(.+)$/;
const NUMERIC = new Set(["integer", "number", "decimal"]);
const YES = new Set(["true", "yes", "y", "1", "✓"]);
const NO = new Set(["false", "no", "n", "0", "✗"]);

/** The text a cell of `column` shows for `value` (as the grid's formatters do). */
export function shownText(value, column) {
  if (value === null || value === undefined) return "";
  if (column.type === "boolean") return value ? "yes" : "no";
  if (column.type === "decimal" && column.scale != null && typeof value === "number") return value.toFixed(column.scale);
  return String(value);
}

/** Whether a cell of `column` holding `value` passes the filter `typed`. */
export function passesFilter(value, typed, column) {
  const wanted = typed.trim().toLowerCase();
  if (!wanted) return true;
  const comparison = NUMERIC.has(column.type) && COMPARISON.exec(wanted);
  if (comparison && Number.isFinite(Number(comparison[2]))) {
    return typeof value === "number" && compare(value, comparison[1], Number(comparison[2]));
  }
  if (column.type === "boolean" && (YES.has(wanted) || NO.has(wanted))) return value === YES.has(wanted);
  return shownText(value, column).toLowerCase().includes(wanted);
}

/** Whether any of the row's cells shows `text` (lower case). */
export function rowShows(row, text, columns) {
  return columns.some((column) => shownText(row[column.name], column).toLowerCase().includes(text));
}

function compare(value, operator, bound) {
  switch (operator) {
    case "<":
      return value < bound;
    case "<=":
      return value <= bound;
    case ">":
      return value > bound;
    case ">=":
      return value >= bound;
    default:
      return value === bound;
  }
}

/** Tabulator header filter settings for `column`. */
export function headerFilter(column) {
  return {
    headerFilter: "input",
    headerFilterPlaceholder: "Filter…",
    headerFilterParams: { elementAttributes: { "aria-label": `Filter ${humanise(column.name)}` } },
    headerFilterFunc: (typed, value) => passesFilter(value, typed, column),
    headerFilterLiveFilterDelay: FILTER_DELAY_MS,
  };
}
