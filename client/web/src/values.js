// Cell values by column type: what a column accepts, and turning typed or pasted text into the
// scalar the document holds (numbers, booleans, strings; dates as ISO strings; null for empty).

const INTEGER = /^[+-]?\d+$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
const DATETIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const TRUE_WORDS = new Set(["true", "yes", "y", "1", "x", "✓", "on"]);
const FALSE_WORDS = new Set(["false", "no", "n", "0", "", "off"]);

export class InvalidValue extends Error {}

/** A value from an editor or the clipboard as a document scalar; throws InvalidValue. */
export function toCell(value, column) {
  const cell = convert(value, column);
  const problem = whyInvalid(cell, column);
  if (problem) throw new InvalidValue(problem);
  return cell;
}

/** Why `cell` (a document scalar) does not fit `column`, or null when it does. */
export function whyInvalid(cell, column) {
  if (cell === null || cell === undefined) {
    return column.nullable ? null : `${column.name} cannot be empty`;
  }
  if (typeof cell === "bigint") {
    if (column.type !== "integer") return "expected a number";
    if (cell < INT64_MIN || cell > INT64_MAX) return "a whole number out of range (64 bits)";
  } else {
    if (column.type === "integer" && !Number.isInteger(cell)) return "expected a whole number";
    if (isNumeric(column) && !Number.isFinite(cell)) return "expected a number";
  }
  if (column.type === "boolean" && typeof cell !== "boolean") return "expected true or false";
  if (column.type === "date" && !DATE.test(cell)) return "expected a date (YYYY-MM-DD)";
  if (column.type === "datetime" && !DATETIME.test(cell)) return "expected a date and time";
  if (column.max_length != null && String(cell).length > column.max_length) {
    return `at most ${column.max_length} characters`;
  }
  if (column.choices && !column.choices.includes(cell)) {
    return `choose one of ${column.choices.join(", ")}`;
  }
  return null;
}

function isNumeric(column) {
  return ["integer", "number", "decimal"].includes(column.type);
}

function convert(value, column) {
  if (value === null || value === undefined) return null;
  if (typeof value !== "string") return column.type === "text" ? String(value) : value;
  const text = column.type === "text" ? value : value.trim();
  if (text === "" && column.type !== "text") return null;
  if (text === "" && column.nullable) return null;
  if (column.type === "integer") return INTEGER.test(text) ? wholeNumber(text) : NaN;
  if (isNumeric(column)) return text.match(/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i) ? Number(text) : NaN;
  if (column.type === "boolean") return toBoolean(text);
  return text;
}

/** A Number, or a BigInt past 2^53 where Numbers round (the document and the table keep
 * 64-bit integers exactly). */
function wholeNumber(text) {
  const number = Number(text);
  return Number.isSafeInteger(number) ? number : BigInt(text);
}

function toBoolean(text) {
  const word = text.toLowerCase();
  if (TRUE_WORDS.has(word)) return true;
  if (FALSE_WORDS.has(word)) return false;
  return text;
}

/** Whether users may edit the column (never the primary key). */
export function isEditable(column, pk) {
  return !column.readonly && column.name !== pk;
}
