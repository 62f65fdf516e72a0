// Tabulator's range selection, without two costs that grow with the rows of the table: it
// restyled every row whenever the table rendered, creating the DOM of rows never shown; and
// before a new range has its bounds (a tick after it is made) it looked for the range's first
// row through every row, each check itself a scan (quadratic). At 100,000 rows that was
// about a second of the first render.
// The change is made to one table's own module rather than registered as a subclass, so it
// applies to whichever Tabulator class the binding is given: the page's, or an embedder's.

/** Changes `table`'s range selection as above. Call it right after `new Tabulator(...)`: the
 * module subscribes to the table's events when the table is built, a tick later. */
export function speedUpRangeSelection(table) {
  const selectRange = table.modules.selectRange;
  const { initializeWatchers, layoutRow, getActiveCell } = selectRange;
  Object.assign(selectRange, {
    initializeWatchers() {
      initializeWatchers.call(this);
      this.subscribe("row-init", (row) => this.layoutRow(row));
    },
    /** Rows without DOM are styled when it is made (row-init). */
    layoutRow(row) {
      if (row.created) layoutRow.call(this, row);
    },
    getActiveCell() {
      return this.activeRange?.start.row === undefined ? undefined : getActiveCell.call(this);
    },
  });
}
