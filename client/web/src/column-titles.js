// How a column is named on screen: `unit_price` reads "Unit price", with a small sign for its
// type, while the document and the table keep the column's own name.

const TYPE_SIGNS = {
  integer: ["#", "whole number"],
  number: ["1.5", "number"],
  decimal: [".00", "decimal"],
  text: ["Aa", "text"],
  boolean: ["✓", "yes or no"],
  date: ["▦", "date"],
  datetime: ["◷", "date and time"],
  time: ["◷", "time"],
  interval: ["⧗", "duration"],
  uuid: ["ID", "identifier"],
  json: ["{}", "JSON"],
};
const CHOICE_SIGN = ["☰", "one of a list"];

/** "unit_price" -> "Unit price", "createdAt" -> "Created at", "id" -> "ID". */
export function humanise(name) {
  if (/^id$/i.test(name)) return "ID";
  const words = name
    .replace(/([a-z\d])([A-Z])/g, "$1 $2")
    .split(/[_\s-]+/)
    .filter(Boolean)
    .map((word) => (/^id$/i.test(word) ? "ID" : word.toLowerCase()));
  if (!words.length) return name;
  words[0] = words[0][0].toUpperCase() + words[0].slice(1);
  return words.join(" ");
}

/** [sign, words] for the column's type: "#" / "whole number", "☰" / "one of a list"... */
export function typeSign(column) {
  if (column.choices) return CHOICE_SIGN;
  return TYPE_SIGNS[column.type] ?? ["?", column.type];
}

/** What a header's tooltip says: the column's own name, its type, and why it is read-only. */
export function columnDescription(column, editable) {
  const [, words] = typeSign(column);
  const details = [words];
  if (column.type === "decimal" && column.scale != null) details.push(`${column.scale} decimals`);
  if (column.max_length != null) details.push(`up to ${column.max_length} characters`);
  if (column.choices) details.push(column.choices.join(", "));
  if (!editable) details.push(column.readonly_reason ?? "read-only");
  return `${column.name}: ${details.join("; ")}`;
}
