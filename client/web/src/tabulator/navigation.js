// The spreadsheet keys Tabulator lacks, and the boolean toggle: PageUp/PageDown move the
// selection a screenful, Home/End to the row's first/last cell, Ctrl+Home/End to the sheet's;
// F2 edits the selected cell; Space (or a click on the tick) toggles a boolean cell; Shift+Space
// asks for the row's expanded view; Escape leaves the grid (the page moves focus to its toolbar).
import { selectedRange } from "./clipboard.js";
import { activeCell, activePosition, isEditing, selectPosition } from "./internals.js";

/** Installs the keys on `binding`'s table; call it before installKeyboard, whose handler must
 * not see the keys handled here. */
export function installNavigation(binding) {
  const { table } = binding;
  const element = table.element;

  const onKeyDown = (event) => {
    if (isEditing(table) || event.altKey) return;
    const command = event.ctrlKey || event.metaKey;
    const handled = command ? commandKey(binding, event) : plainKey(binding, event);
    if (!handled) return;
    event.preventDefault();
    event.stopImmediatePropagation();
  };
  const onClick = (event, cell) => {
    if (event.detail > 1 || !event.target.closest(".cellsync-tick")) return;
    if (cell.getColumn().getDefinition().editor) toggle(binding, [cell]);
  };
  element.addEventListener("keydown", onKeyDown, true);
  table.on("cellClick", onClick);
}

function plainKey(binding, event) {
  const { table } = binding;
  const position = activePosition(table);
  if (!position) return false;
  switch (event.key) {
    case "PageDown":
    case "PageUp": {
      const step = pageRows(table) * (event.key === "PageDown" ? 1 : -1);
      selectPosition(table, position.row + step, position.column);
      return true;
    }
    case "Home":
      selectPosition(table, position.row, 0);
      return true;
    case "End":
      selectPosition(table, position.row, Infinity);
      return true;
    case "F2": {
      const cell = activeCell(table);
      if (cell?.getColumn().getDefinition().editor) cell.edit(true);
      return true;
    }
    case "Escape":
      leaveGrid(table.element);
      return true;
    case " ":
      if (event.shiftKey) {
        binding.expandActiveRow();
        return true;
      }
      return toggleSelection(binding);
    default:
      return false;
  }
}

function commandKey(binding, event) {
  const { table } = binding;
  if (event.key === "Home") selectPosition(table, 0, 0);
  else if (event.key === "End") selectPosition(table, Infinity, Infinity);
  else return false;
  return true;
}

/** Toggles the boolean cells of the selection when the active cell is one: each becomes the
 * opposite of the active cell's value. False when the active cell is no editable boolean. */
function toggleSelection(binding) {
  const cell = activeCell(binding.table);
  if (!cell || !isToggle(binding, cell)) return false;
  const range = selectedRange(binding.table);
  const cells = range.rows.flatMap((row) => range.columns.map((column) => row.getCell(column)));
  toggle(binding, cells.filter((each) => isToggle(binding, each)), !cell.getValue());
  return true;
}

function isToggle(binding, cell) {
  const column = binding.sheet.column(cell.getField());
  return column?.type === "boolean" && Boolean(cell.getColumn().getDefinition().editor);
}

function toggle(binding, cells, value = !cells[0]?.getValue()) {
  binding.sheet.setCells(cells.map((cell) => ({ key: binding.keyOf(cell.getRow()), column: cell.getField(), value })));
}

/** The rows a screenful holds. */
function pageRows(table) {
  const holder = table.rowManager.element;
  const row = holder.querySelector(".tabulator-row");
  return Math.max(1, Math.floor(holder.clientHeight / (row?.offsetHeight || 24)) - 1);
}

/** Asks the page to take the focus (`cellsync:leave-grid`); without a taker, the grid lets it go. */
function leaveGrid(element) {
  const event = new CustomEvent("cellsync:leave-grid", { bubbles: true, cancelable: true });
  if (element.dispatchEvent(event)) document.activeElement?.blur();
}
