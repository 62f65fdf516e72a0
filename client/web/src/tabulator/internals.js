// The few things Tabulator 6 offers no public API for, in one place: which cell is active in
// the range selection, moving it as the arrow keys do or to a given place, and whether a cell
// is being edited.

export function activeCell(table) {
  return table.modules.selectRange.getActiveCell()?.getComponent() ?? null;
}

/** Moves the selection one cell: "up", "down", "left" or "right". */
export function moveSelection(table, direction) {
  table.modules.selectRange.navigate(false, false, direction);
}

/** The active cell's place, {row, column}: indexes into the rows shown and the data columns. */
export function activePosition(table) {
  const range = table.modules.selectRange.activeRange;
  if (!range || range.start.row === undefined) return null;
  const header = table.modules.selectRange.rowHeader ? 1 : 0;
  return { row: range.start.row, column: range.start.col - header };
}

/** Selects the one cell at `row`, `column` (clamped to the sheet: Infinity is the last) and
 * scrolls it into view, as the arrow keys do. */
export function selectPosition(table, row, column) {
  const select = table.modules.selectRange;
  const range = select.activeRange;
  const rows = select.getTableRows();
  if (!range || !rows.length) return;
  const header = select.rowHeader ? 1 : 0;
  const rowIndex = Math.max(0, Math.min(row, rows.length - 1));
  const columnIndex = Math.max(header, Math.min(column + header, select.getTableColumns().length - 1));
  range.setStart(rowIndex, columnIndex);
  range.setEnd(rowIndex, columnIndex);
  select.selecting = "cell";
  const rowComponent = select.getRowByRangePos(rowIndex).getComponent();
  const columnComponent = select.getColumnByRangePos(columnIndex).getComponent();
  // Each scroll resolves once done, or never when there was nothing to scroll.
  const layout = () => select.layoutElement();
  rowComponent.scrollTo("nearest", false).then(layout, () => {});
  columnComponent.scrollTo("middle", false).then(layout, () => {});
  layout();
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

/** `listener(row, position)` for each row whose DOM exists, when it is made and whenever its
 * place among the rows shown changes (position 1 is the first shown; Tabulator renumbers the
 * rows it shows after every sort, filter, addition or deletion). Call it right after
 * `new Tabulator(...)`, before any row is drawn. */
export function watchRowPositions(table, listener) {
  table.eventBus.subscribe("row-init", (row) => {
    row.watchPosition((position) => listener(row.getComponent(), position));
  });
}

/** The element of the header row. */
export function headerRow(table) {
  return table.columnManager.headersElement;
}

/** Makes `table`'s filters (header filters and added ones) keep every row for which
 * `kept(row)` (a RowComponent) holds, whatever they say. Returns what they say: whether a
 * row (a RowComponent) passes the filters in force now. */
export function keepThroughFilters(table, kept) {
  const filter = table.modules.filter;
  const filterRow = filter.filterRow;
  filter.filterRow = function (row, ...rest) {
    return kept(row.getComponent()) || filterRow.call(this, row, ...rest);
  };
  return (row) => filterRow.call(filter, row._row);
}

/** The rows the filters let through, as a Set of RowComponents. */
export function filteredRows(table) {
  return new Set(table.getRows("active"));
}
