// What every grid binding shares: it follows the sheet's changes, outlines the other users'
// selections and marks refused cells, builds its grid once the columns are known, and lets go
// of all that when destroyed. Subclasses build and update their own grid.
import { CellMarks } from "./cell-marks.js";

/** The data field holding each row's key (never shown as a column). */
export const KEY = "__cellsync_key";

export class GridBinding {
  /** `cellSelector(rowKey, column)`: the CSS selector of one cell of this grid (column null:
   * every cell of the row). */
  constructor(connection, element, cellSelector) {
    this.connection = connection;
    this.sheet = connection.sheet;
    this.element = element;
    element.classList.add("cellsync-grid");
    this.marks = new CellMarks(cellSelector);
    /** Resolves (with the binding) once the grid shows the sheet. */
    this.ready = new Promise((resolve) => (this.resolveReady = resolve));
    this.unsubscribe = [];
    this.others = [];
  }

  /** Starts following the sheet, building the grid now if its columns are known: the last
   * step of a subclass's constructor. */
  follow() {
    this.unsubscribe = [
      this.connection.changes.subscribe((change) => this.onChange(change)),
      this.connection.presence.subscribe((others) => this.showPresence(others)),
      this.sheet.refused.subscribe((cells) => this.marks.showRefusals(cells)),
    ];
    if (this.sheet.columns().length) this.build();
  }

  /** Calls `then` whenever a new tab's first sync may have all arrived: a server sends a big
   * sheet in chunks, and a grid built from the first takes the rest at once, not chunk by
   * chunk (`connection.arriving` says whether more are coming). */
  followArrival(then) {
    const provider = this.connection.provider;
    provider.on("sync", then);
    provider.on("status", then);
    this.unsubscribe.push(() => {
      provider.off("sync", then);
      provider.off("status", then);
    });
  }

  /** Before the first sync there is nothing to show: the grid is built with the columns. */
  onChange(change) {
    if (this.built) this.apply(change);
    else if (this.sheet.columns().length) this.build();
  }

  /** Someone's selected range as this grid shows it: `runs`, its rows (keys) in runs of rows
   * shown next to each other, top first; its columns; whether it starts on the grid's first
   * row. The range's rows are those between its corners in the document's order; a range
   * whose corners are gone is their cursor's cell. */
  span({ cursor, selection }) {
    const keys = this.sheet.keys();
    const columns = this.sheet.columns().map((column) => column.name);
    const between = (list, a, b) => {
      const [i, j] = [list.indexOf(a), list.indexOf(b)];
      return i < 0 || j < 0 ? [a] : list.slice(Math.min(i, j), Math.max(i, j) + 1);
    };
    const end = selection?.end ?? cursor;
    const rows = cursor.row === end.row ? [cursor.row] : between(keys, cursor.row, end.row);
    const runs = this.shownRuns(rows);
    return { runs, columns: between(columns, cursor.column, end.column), firstRow: runs[0]?.[0] === this.firstShown(keys) };
  }

  /** `rows` (keys in the document's order) as runs of rows shown next to each other: the
   * grid shows the document's order unless a subclass says otherwise. */
  shownRuns(rows) {
    return [rows];
  }

  /** The key of the first row shown (`keys`: the document's). */
  firstShown(keys) {
    return keys[0];
  }

  /** Outlines the others' ranges again, as the grid now shows them. */
  showPresence(others = this.others) {
    this.others = others;
    this.marks.showPresence(others, (person) => this.span(person));
  }

  /** One row of the grid's data: the row's cells and its key. */
  rowData(key) {
    return { ...this.sheet.row(key), [KEY]: key };
  }

  destroy() {
    this.unsubscribe.forEach((unsubscribe) => unsubscribe());
    this.marks.destroy();
  }
}
