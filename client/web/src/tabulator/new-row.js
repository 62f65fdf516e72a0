// A row added as in Airtable and Sheets: it opens with the cursor in its first editable cell
// and the keyboard in the grid (not on the Add button), so typing goes into the row.
import { focusGrid } from "./internals.js";

/** Selects the first editable cell of the grid row `key` and focuses the grid. */
export function openRow(binding, key) {
  const { table, sheet } = binding;
  const row = table.getRow(key);
  const column = sheet.columns().find((description) => sheet.canEdit(description));
  if (!row || !column) return;
  table.scrollToRow(key, "bottom", false);
  const cell = row.getCell(column.name);
  table.addRange(cell, cell);
  focusGrid(table);
  binding.userSelected = true;
  // addRange fires no rangeChanged, and the range has its bounds a tick later: then the others
  // learn where this user is.
  setTimeout(() => binding.onSelection());
}
