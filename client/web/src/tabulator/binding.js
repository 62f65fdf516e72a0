// Binds a sheet to a Tabulator grid: the grid shows the document, user edits go into the
// document, and every change to the document (remote, undo, paste) is applied to the grid
// incrementally through Tabulator's API, never by reloading the grid.
import { cssString } from "../cell-marks.js";
import { GridBinding, KEY } from "../grid-binding.js";
import { COLUMN_DEFAULTS, columnDefinitions } from "./columns.js";
import { EditConflicts } from "./edit-conflicts.js";
import { installKeyboard } from "./keyboard.js";
import { openRow } from "./new-row.js";
import { selectedRange } from "./clipboard.js";
import { activeCell, isEditing, onEditorClosed } from "./internals.js";
import { installNavigation } from "./navigation.js";
import { ROW_HEADER } from "./row-header.js";
import { speedUpRangeSelection } from "./select-range.js";
import { GridView } from "./view.js";

// Structural changes adding more rows than this reload the data instead of adding row by row.
const BULK_ADD = 500;
// The grid is first built with the sheet's first rows only (a screenful and more), and given
// every row once those are painted: building all of a 100,000-row sheet's grid rows took
// ~0.45 s before the first paint. A new tab's grid is built from the first chunk of rows the
// server sends, and given every row once the last has come: giving it each chunk's rows would
// rebuild every grid row at each chunk.
const FIRST_ROWS = 100;

/** Shows `connection` (from connectSheet) in `element` with `Tabulator` (TabulatorFull). */
export function bindTabulator(connection, Tabulator, element, options = {}) {
  return new TabulatorBinding(connection, Tabulator, element, options);
}

export class TabulatorBinding extends GridBinding {
  constructor(connection, Tabulator, element, options) {
    super(
      connection,
      element,
      (row, column) =>
        `.cellsync-grid .tabulator-row[data-key=${cssString(row)}] .tabulator-cell` +
        (column ? `[tabulator-field=${cssString(column)}]` : "[tabulator-field]"),
    );
    this.Tabulator = Tabulator;
    this.options = options;
    this.table = null;
    this.shown = [];
    this.shownSet = new Set();
    this.applying = false;
    this.keyOf = (row) => row.getData()[KEY];
    /** Whether the selection is the user's (or a new row's), not the one made at load. */
    this.userSelected = false;
    this.follow();
  }

  get built() {
    return this.table !== null;
  }

  build() {
    const keys = this.sheet.keys();
    this.shown = keys.slice(0, FIRST_ROWS);
    this.shownSet = new Set(this.shown);
    /** Whether the grid holds only the first rows yet (see FIRST_ROWS). */
    this.partial = this.shown.length < keys.length;
    this.table = new this.Tabulator(this.element, {
      data: this.shown.map((key) => this.rowData(key)),
      columns: columnDefinitions(this.sheet, keys),
      index: KEY,
      nestedFieldSeparator: false,
      height: this.options.height ?? "100%",
      columnDefaults: COLUMN_DEFAULTS,
      rowHeader: ROW_HEADER,
      headerSortClickElement: "icon",
      selectableRange: 1,
      selectableRangeColumns: true,
      selectableRangeRows: true,
      editTriggerEvent: "dblclick",
      rowFormatter: (row) => {
        row.getElement().dataset.key = row.getData()[KEY];
      },
    });
    speedUpRangeSelection(this.table);
    this.editConflicts = new EditConflicts(this);
    this.view = new GridView(this);
    this.view.subscribe(() => this.showPresence());
    this.table.on("tableBuilt", () => {
      installNavigation(this);
      installKeyboard(this);
      const chose = () => (this.userSelected = true);
      this.element.addEventListener("pointerdown", chose, true);
      this.element.addEventListener("keydown", chose, true);
      this.element.dataset.ready = "true";
      this.resolveReady(this);
      if (this.partial) afterPaint(() => this.showEveryRow());
      this.followArrival(() => this.showEveryRow());
    });
    // Not at once: the editor's value is set in the grid after it closes.
    onEditorClosed(this.table, () => setTimeout(() => this.showEveryRow()));
    this.table.on("cellEdited", (cell) => this.onCellEdited(cell));
    this.table.on("rangeChanged", () => this.onSelection());
  }

  /** A user edit in the grid. API updates never fire cellEdited, and the flag guards against
   * a Tabulator version that would. */
  onCellEdited(cell) {
    if (this.applying) return;
    this.editCell(this.keyOf(cell.getRow()), cell.getField(), cell.getValue());
  }

  /** A user's edit of one cell, in the grid or the row view: into the document; the grid
   * shows the document's value when the sheet did not take the edit as typed (refused or
   * converted). */
  editCell(key, column, value) {
    if (!this.sheet.setCell(key, column, value)) {
      this.update([{ [KEY]: key, [column]: this.sheet.rows.get(key)?.get(column) ?? null }]);
    }
  }

  onSelection() {
    const range = selectedRange(this.table);
    if (!range) return this.connection.presence.setCursor(null);
    const end = { row: this.keyOf(range.rows.at(-1)), column: range.columns.at(-1).getField() };
    this.connection.presence.setCursor(this.keyOf(range.rows[0]), range.columns[0].getField(), end);
  }

  apply(change) {
    if (change.columns) this.table.setColumns(columnDefinitions(this.sheet, this.shown));
    if (change.structure) this.partial ? this.showEveryRow() : this.syncRows();
    const updates = [];
    for (const [key, columns] of change.cells) {
      const row = this.sheet.rows.get(key);
      if (!this.shownSet.has(key) || !row) continue;
      const data = { [KEY]: key };
      for (const column of columns ?? row.keys()) data[column] = row.get(column) ?? null;
      updates.push(data);
    }
    this.editConflicts.shield(updates);
    if (updates.length) this.update(updates);
    this.view.applied(change);
  }

  update(rows) {
    this.whileApplying(() => this.table.updateData(rows));
  }

  whileApplying(change) {
    this.applying = true;
    try {
      change();
    } finally {
      this.applying = false;
    }
  }

  /** Gives the grid every row of the sheet, once the first ones are painted (`build`), no
   * editor is open (replacing the data would close it) and no first sync's rows are still
   * arriving: rows added, removed or edited meanwhile are read from the document as it is now.
   * A no-op once every row is shown. */
  showEveryRow() {
    if (this.partial && !isEditing(this.table) && !this.connection.arriving) this.syncRows(true);
  }

  /** Adds and removes grid rows to match the document's `order` (`reload`: in one
   * replaceData, whatever changed). */
  syncRows(reload = false) {
    const keys = this.sheet.keys();
    const keySet = new Set(keys);
    const removed = this.shown.filter((key) => !keySet.has(key));
    const added = keys.filter((key) => !this.shownSet.has(key));
    const movedOrBulk =
      reload ||
      added.length > BULK_ADD || !sameOrder(this.shown.filter((key) => keySet.has(key)), keys.filter((key) => this.shownSet.has(key)));
    this.shown = keys;
    this.shownSet = keySet;
    this.partial = false;
    this.whileApplying(() => {
      if (movedOrBulk) {
        this.view.keepSelection(() => this.table.replaceData(keys.map((key) => this.rowData(key))));
        return;
      }
      if (removed.length) this.table.deleteRow(removed);
      const position = added.length ? new Map(keys.map((key, i) => [key, i])) : null;
      for (const key of added) {
        const before = keys[position.get(key) - 1];
        this.table.addRow(this.rowData(key), before === undefined, before);
      }
    });
  }

  /** The rows of someone's range as this user's sort and filters show them. */
  shownRuns(rows) {
    if (!this.built || rows.length === 1 || !(this.view.filtered() || this.view.sorted())) return [rows];
    const wanted = new Set(rows);
    const runs = [];
    let previous = -2;
    this.table.getRows("active").forEach((row, i) => {
      const key = this.keyOf(row);
      if (!wanted.has(key)) return;
      if (i === previous + 1) runs.at(-1).push(key);
      else runs.push([key]);
      previous = i;
    });
    return runs;
  }

  firstShown(keys) {
    const first = this.built ? this.table.getRows("active")[0] : null;
    return first ? this.keyOf(first) : keys[0];
  }

  /** Appends an empty row and opens it; returns its key (null on a read-only sheet). */
  addRow() {
    const key = this.sheet.addRow();
    if (key) openRow(this, key);
    return key;
  }

  /** The keys of the rows the user's selection touches ([] before the user selects). */
  selectedRowKeys() {
    const range = this.userSelected ? selectedRange(this.table) : null;
    return range ? range.rows.map(this.keyOf) : [];
  }


  /** Asks the page for the active cell's row's expanded view (a `cellsync:expand-row` event). */
  expandActiveRow() {
    const cell = activeCell(this.table);
    if (!cell) return;
    const detail = { key: this.keyOf(cell.getRow()) };
    this.element.dispatchEvent(new CustomEvent("cellsync:expand-row", { bubbles: true, detail }));
  }

  /** Deletes the rows the user's selection touches. */
  deleteSelectedRows() {
    this.sheet.deleteRows(this.selectedRowKeys());
  }

  destroy() {
    super.destroy();
    this.editConflicts?.destroy();
    this.table?.destroy();
  }
}

/** Runs `then` once the browser has painted what is on screen now. */
function afterPaint(then) {
  requestAnimationFrame(() => setTimeout(then));
}

function sameOrder(a, b) {
  return a.length === b.length && a.every((key, i) => key === b[i]);
}
