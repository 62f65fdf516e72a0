// Cell values by column type: what a column accepts, and turning typed or pasted text into the
// scalar the document holds (numbers, booleans, strings; dates as ISO strings; null for empty).
// Pure functions, shared by the Tabulator and Handsontable bindings and their editors.

const INTEGER = /^[+-]?\d+$/;
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
const LOCALE_DATE = /^(\d{1,4})[./-](\d{1,2})[./-](\d{1,4})\.?$/;
// Date, hours and minutes; then optionally seconds with up to 6 decimals (the tables keep
// microseconds), and an offset (with seconds, as Python writes historic ones: +01:39:49).
const ISO_DATETIME =
  /^(\d{4}-\d{2}-\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?(Z|[+-](\d{2})(?::?(\d{2})(?::(\d{2}))?)?)?$/i;
// What <input type=datetime-local step=0.001> holds: local time, milliseconds at most.
const PICKED_DATETIME = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?$/;
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const MAX_DECIMALS = 6;
const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
const TRUE_WORDS = new Set(["true", "yes", "y", "1", "x", "✓", "on"]);
const FALSE_WORDS = new Set(["false", "no", "n", "0", "", "off"]);

// Dates read as ISO only, or also as the browser's locale writes them.
const ISO_ONLY = { order: "YMD", example: "2025-01-31" };
// The browser's own (Intl's first use costs tens of milliseconds: not before the page needs it).
let browserDates = null;

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
  if (column.type === "date") {
    const date = typeof cell === "string" ? readDate(cell, ISO_ONLY) : {};
    if (date.value !== cell) return date.problem ?? "expected a date (YYYY-MM-DD)";
  }
  if (column.type === "datetime") {
    const datetime = typeof cell === "string" ? readDateTime(cell) : {};
    if (datetime.value !== cell) return datetime.problem ?? "expected a date and time";
  }
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
  if (column.type === "date") return valueOf(readDate(text));
  if (column.type === "datetime") return valueOf(readDateTime(text));
  return text;
}

function valueOf({ value, problem }) {
  if (problem) throw new InvalidValue(problem);
  return value;
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

/** How `locale` (the browser's by default) writes dates: the order of day, month and year
 * ("MDY", "DMY" or "YMD"), and 2025-01-31 written so, for refusals to show. */
export function dateLocale(locale) {
  const format = new Intl.DateTimeFormat(locale, { year: "numeric", month: "numeric", day: "numeric" });
  const sample = new Date(2025, 0, 31);
  const order = format
    .formatToParts(sample)
    .filter((part) => ["year", "month", "day"].includes(part.type))
    .map((part) => part.type[0].toUpperCase())
    .join("");
  return { order, example: format.format(sample) };
}

/** `text` as an ISO date: {value: "YYYY-MM-DD"} or {problem}. ISO is read as such; numbers in
 * the locale's order with a 4-digit year (31/01/2025 where days come first) are read too. */
export function readDate(text, dates = (browserDates ??= dateLocale())) {
  const iso = ISO_DATE.exec(text);
  const parts = iso ? iso.slice(1) : localeParts(text, dates.order);
  if (!parts) {
    const local = dates.order === "YMD" ? "" : ` or ${dates.example}`;
    return { problem: `expected a date: 2025-01-31${local}` };
  }
  const [year, month, day] = parts.map(Number);
  if (!isCalendarDay(year, month, day)) {
    return { problem: `${text} is not a date` + (iso ? "" : ` (here 2025-01-31 is written ${dates.example})`) };
  }
  return { value: `${String(year).padStart(4, "0")}-${pad(month)}-${pad(day)}` };
}

/** `text` as an ISO datetime: {value} (T between date and time; seconds, decimals and offset
 * kept as typed) or {problem}. */
export function readDateTime(text) {
  const match = ISO_DATETIME.exec(text);
  if (!match) {
    return { problem: "expected a date and time: 2025-01-31T10:20 (seconds and an offset optional: 10:20:30.5+02:00)" };
  }
  const [, day, hour, minute, second = "0", decimals = "", offset = ""] = match;
  const offsetParts = match.slice(7).map((part) => Number(part ?? 0));
  const date = readDate(day, ISO_ONLY);
  if (date.problem) return date;
  if (Number(hour) > 23) return { problem: `${text}: the hour is past 23` };
  if (Number(minute) > 59 || Number(second) > 59) return { problem: `${text}: minutes and seconds go up to 59` };
  if (decimals.length > MAX_DECIMALS) return { problem: `${text}: at most ${MAX_DECIMALS} decimals of a second` };
  if (offsetParts[0] > 23 || offsetParts.slice(1).some((part) => part > 59)) {
    return { problem: `${text}: the offset ${offset} is out of range` };
  }
  const time = text.slice(day.length + 1, text.length - offset.length);
  return { value: `${day}T${time}${offset.toUpperCase()}` };
}

/** What a native date (`type` "date") or datetime-local input shows for `cell`, or "" for
 * what it cannot (an offset, or decimals past milliseconds, are cut: the text keeps them). */
export function pickerValue(cell, type) {
  if (typeof cell !== "string") return "";
  if (type === "date") return readDate(cell, ISO_ONLY).value ?? "";
  const match = ISO_DATETIME.exec(cell);
  if (!match || readDateTime(cell).problem) return "";
  const [, day, hour, minute, second = "00", decimals = ""] = match;
  return `${day}T${hour}:${minute}:${second}` + (decimals ? `.${decimals.slice(0, 3).padEnd(3, "0")}` : "");
}

/** The cell text after a pick of `picked` (a native input's value) in a cell holding `text`:
 * a datetime keeps the offset of `text`, and its decimals past milliseconds while the picked
 * seconds and milliseconds are those it showed. */
export function afterPick(picked, text, type) {
  const match = PICKED_DATETIME.exec(picked);
  if (type === "date" || !match) return picked;
  const [, minutes, second = "00", milliseconds = ""] = match;
  const before = typeof text === "string" ? ISO_DATETIME.exec(text) : null;
  if (!before) return picked;
  const [, day, , , beforeSecond = "00", beforeDecimals = "", offset = ""] = before;
  const shown = second === beforeSecond && milliseconds.padEnd(3, "0") === beforeDecimals.slice(0, 3).padEnd(3, "0");
  // "YYYY-MM-DDTHH:MM" is 16 characters: the seconds follow.
  const seconds = shown ? text.slice(day.length + 6, text.length - offset.length) : picked.slice(minutes.length);
  return `${minutes}${seconds}${offset}`;
}

function localeParts(text, order) {
  const match = LOCALE_DATE.exec(text);
  if (!match) return null;
  const parts = Object.fromEntries([...order].map((field, i) => [field, match[i + 1]]));
  return parts.Y?.length === 4 ? [parts.Y, parts.M, parts.D] : null;
}

function isCalendarDay(year, month, day) {
  if (year < 1 || month < 1 || month > 12 || day < 1) return false;
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  return day <= (month === 2 && leap ? 29 : DAYS_IN_MONTH[month - 1]);
}

function pad(number) {
  return String(number).padStart(2, "0");
}
