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
