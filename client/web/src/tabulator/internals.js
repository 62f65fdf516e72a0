// The few things Tabulator 6 offers no public API for, in one place: which cell is active in
// the range selection, moving it as the arrow keys do, and whether a cell is being edited.

export function activeCell(table) {
  return table.modules.selectRange.getActiveCell()?.getComponent() ?? null;
}

/** Moves the selection one cell: "up", "down", "left" or "right". */
export function moveSelection(table, direction) {
  table.modules.selectRange.navigate(false, false, direction);
}

export function isEditing(table) {
  return Boolean(table.modules.edit.currentCell);
}

/** The cell being edited (a CellComponent), or null. */
export function editingCell(table) {
  const cell = table.modules.edit.currentCell; // false when none
  return cell ? cell.getComponent() : null;
}

/** Sets a cell's value in the grid's data without drawing it: an open editor stays open, and
 * cancelling it shows this value. */
export function holdValue(cell, value) {
  const internal = cell._cell;
  internal.value = value;
  internal.column.setFieldValue(internal.row.data, value);
}

/** `listener(cell)` whenever an editor closes, however (committed, cancelled, or committed
 * unchanged, for which Tabulator fires no public event). */
export function onEditorClosed(table, listener) {
  table.eventBus.subscribe("edit-editor-clear", (cell) => listener(cell.getComponent()));
}

/** Gives the grid the keyboard focus, as a click in it does (typing then edits the active cell). */
export function focusGrid(table) {
  table.rowManager.element.focus({ preventScroll: true });
}
