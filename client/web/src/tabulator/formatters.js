// How cells and headers look: decimals with their column's scale (19.50), booleans as a box
// a screen reader reads as "yes" or "no" (a click on it toggles the cell), choices as pills, and
// headers with a humanised title and a type sign. Formatters run for every cell drawn, so they
// build strings or a few nodes, never measure.
import { columnDescription, humanise, typeSign } from "../column-titles.js";

const PILL_COLOURS = 8;

/** The `formatter` (and alignment) of a column's cells. */
export function cellFormat(column) {
  if (column.type === "boolean") return { formatter: tick, hozAlign: "center" };
  if (column.choices) return { formatter: pill(column.choices) };
  if (column.type === "decimal" && column.scale != null) return { formatter: fixed(column.scale), hozAlign: "right" };
  if (["integer", "number", "decimal"].includes(column.type)) return { hozAlign: "right" };
  return {};
}

/** The header's title: the humanised name after a type sign, the column's own name in its
 * tooltip (and for screen readers). */
export function headerFormat(column, editable) {
  const [sign] = typeSign(column);
  const description = columnDescription(column, editable);
  return {
    title: humanise(column.name),
    titleFormatter: (cell) => {
      const title = document.createElement("span");
      title.className = "cellsync-title";
      title.title = description;
      const icon = document.createElement("span");
      icon.className = "cellsync-type";
      icon.setAttribute("aria-hidden", "true");
      icon.textContent = sign;
      title.append(icon, cell.getValue());
      return title;
    },
  };
}

function fixed(scale) {
  return (cell) => {
    const value = cell.getValue();
    return typeof value === "number" ? value.toFixed(scale) : (value ?? "");
  };
}

/** A box, ticked for true, empty for false, dashed when the cell is empty; read as "yes",
 * "no" or "empty". */
function tick(cell) {
  const value = cell.getValue();
  const state = value === null || value === undefined ? "empty" : value ? "yes" : "no";
  const span = document.createElement("span");
  span.className = `cellsync-tick cellsync-tick-${state}`;
  span.setAttribute("role", "img");
  span.setAttribute("aria-label", state);
  span.textContent = value ? "✓" : "";
  return span;
}

function pill(choices) {
  return (cell) => {
    const value = cell.getValue();
    if (value === null || value === undefined || value === "") return "";
    const span = document.createElement("span");
    const index = choices.indexOf(value);
    span.className = "cellsync-pill";
    span.dataset.colour = String(index < 0 ? "x" : index % PILL_COLOURS);
    span.textContent = value;
    return span;
  };
}
