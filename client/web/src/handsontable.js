// Binds a sheet to a Handsontable grid, for teams that already use Handsontable (proprietary
// since 7.0: pass your own `Handsontable` and licence key). The same binding as Tabulator's
// through Handsontable's hooks: user edits (afterChange, afterCreateRow, afterRemoveRow) go into
// the document; document changes are applied inside hot.batch() with a source of our own,
// which the hooks ignore.
import { cssString } from "./cell-marks.js";
import { GridBinding, KEY } from "./grid-binding.js";
import { newRowKey } from "./layout.js";
import { toCell } from "./values.js";

export const SOURCE = "cellsync";
const IGNORED_SOURCES = new Set([SOURCE, "loadData", "updateData"]);
const TYPES = { integer: "numeric", number: "numeric", decimal: "numeric", boolean: "checkbox" };
// Structural changes adding more rows than this reload the data instead of adding row by row.
const BULK_ADD = 500;

/** Shows `connection` (from connectSheet) in `element` with your `Handsontable`. `settings`
 * are passed on to Handsontable (licenseKey is required by Handsontable). */
export function bindHandsontable(connection, Handsontable, element, settings = {}) {
  return new HandsontableBinding(connection, Handsontable, element, settings);
}

export class HandsontableBinding extends GridBinding {
  constructor(connection, Handsontable, element, settings) {
    super(
      connection,
      element,
      (row, column) =>
        `.cellsync-grid td[data-key=${cssString(row)}]` + (column ? `[data-column=${cssString(column)}]` : ""),
    );
    this.Handsontable = Handsontable;
    this.settings = settings;
    this.hot = null;
    this.shown = [];
    this.positions = null;
    this.follow();
  }

  get built() {
    return this.hot !== null;
  }

  build() {
    this.setShown(this.sheet.keys());
    const { sheet } = this;
    const binding = this;
    this.hot = new this.Handsontable(this.element, {
      data: this.shown.map((key) => this.rowData(key)),
      columns: sheet.columns().map((column) => columnSettings(column, sheet)),
      colHeaders: sheet.columns().map((column) => column.name),
      rowHeaders: true,
      height: "100%",
      width: "100%",
      undo: false,
      outsideClickDeselects: false,
      contextMenu: sheet.writable ? ["row_above", "row_below", "remove_row", "---------", "copy", "cut"] : ["copy"],
      ...this.settings,
      afterChange: (changes, source) => this.onUserChange(changes, source),
      afterCreateRow: (index, amount, source) => this.onUserInsert(index, amount, source),
      beforeRemoveRow: (_index, _amount, physicalRows, source) => this.onUserRemove(physicalRows, source),
      afterSelectionEnd: (row, column) => this.onSelection(row, column),
      // Runs during construction too, before this.hot is set: Handsontable passes itself as this.
      afterRenderer(td, row, _column, prop) {
        td.dataset.key = binding.shown[this.toPhysicalRow(row)] ?? "";
        td.dataset.column = prop;
      },
      beforeKeyDown: (event) => this.onKeyDown(event),
    });
    this.element.dataset.ready = "true";
    this.resolveReady(this);
    this.followArrival(() => {
      if (!this.connection.arriving) this.hot.batch(() => this.syncRows());
    });
  }

  setShown(keys) {
    this.shown = keys;
    this.positions = null;
  }

  keyAt(visualRow) {
    return this.shown[this.hot.toPhysicalRow(visualRow)];
  }

  visualRowOf(key) {
    this.positions ??= new Map(this.shown.map((k, i) => [k, i]));
    const physical = this.positions.get(key);
    return physical === undefined ? null : this.hot.toVisualRow(physical);
  }

  onUserChange(changes, source) {
    if (!changes || IGNORED_SOURCES.has(source)) return;
    const edits = changes
      .filter(([, prop, before, after]) => typeof prop === "string" && before !== after)
      .map(([row, column, , value]) => ({ key: this.keyAt(row), column, value }));
    this.sheet.setCells(edits);
    this.showDocumentValues(edits);
  }

  onUserInsert(index, amount, source) {
    if (source === SOURCE) return;
    const physical = this.hot.toPhysicalRow(index);
    const rows = Array.from({ length: amount }, () => ({ key: newRowKey() }));
    const keys = rows.map((row) => row.key);
    this.setShown([...this.shown.slice(0, physical), ...keys, ...this.shown.slice(physical)]);
    keys.forEach((key, i) => this.hot.setSourceDataAtCell(physical + i, KEY, key));
    this.sheet.insertRows(rows, physical === 0 ? undefined : this.shown[physical - 1]);
  }

  onUserRemove(physicalRows, source) {
    if (source === SOURCE) return;
    const doomed = new Set(physicalRows);
    const keys = this.shown.filter((_, i) => doomed.has(i));
    this.setShown(this.shown.filter((_, i) => !doomed.has(i)));
    this.sheet.deleteRows(keys);
  }

  onSelection(row, column) {
    const prop = this.hot.colToProp(column);
    const key = row >= 0 ? this.keyAt(row) : undefined;
    this.connection.presence.setCursor(key ?? null, typeof prop === "string" ? prop : null);
  }

  onKeyDown(event) {
    if (this.hot.getActiveEditor()?.isOpened() || !(event.ctrlKey || event.metaKey)) return;
    const key = event.key.toLowerCase();
    if (key === "z" && !event.shiftKey) this.sheet.undo();
    else if (key === "y" || (key === "z" && event.shiftKey)) this.sheet.redo();
    else return;
    event.preventDefault();
    event.stopImmediatePropagation();
  }

  /** Puts back the document's value where the grid shows another (a refused or converted value). */
  showDocumentValues(edits) {
    const fixes = [];
    for (const { key, column } of edits) {
      const row = this.visualRowOf(key);
      const value = this.sheet.rows.get(key)?.get(column) ?? null;
      if (row !== null && this.hot.getDataAtRowProp(row, column) !== value) fixes.push([row, column, value]);
    }
    if (fixes.length) this.hot.setDataAtRowProp(fixes, SOURCE);
  }

  apply(change) {
    this.hot.batch(() => {
      if (change.columns) this.rebuildColumns();
      if (change.structure && !this.connection.arriving) this.syncRows();
      const cells = [];
      for (const [key, columns] of change.cells) {
        const row = this.sheet.rows.get(key);
        if (!row) continue;
        for (const column of columns ?? row.keys()) cells.push({ key, column });
      }
      this.showDocumentValues(cells);
    });
  }

  rebuildColumns() {
    const columns = this.sheet.columns();
    this.hot.updateSettings({
      columns: columns.map((column) => columnSettings(column, this.sheet)),
      colHeaders: columns.map((column) => column.name),
    });
  }

  /** Adds and removes grid rows to match the document's `order`; reloads on a reorder or
   * many rows added. */
  syncRows() {
    const keys = this.sheet.keys();
    const keySet = new Set(keys);
    const shownSet = new Set(this.shown);
    const retained = this.shown.filter((key) => keySet.has(key));
    const retainedNew = keys.filter((key) => shownSet.has(key));
    const added = keys.length - retainedNew.length;
    if (added > BULK_ADD || retained.some((key, i) => key !== retainedNew[i])) {
      this.setShown(keys);
      this.hot.updateData(keys.map((key) => this.rowData(key)), SOURCE);
      return;
    }
    const removals = this.shown
      .map((key, physical) => [key, physical])
      .filter(([key]) => !keySet.has(key))
      .map(([, physical]) => [this.hot.toVisualRow(physical), 1]);
    this.setShown(retained);
    if (removals.length) this.hot.alter("remove_row", removals, undefined, SOURCE);
    keys.forEach((key, i) => {
      if (shownSet.has(key)) return;
      this.setShown([...this.shown.slice(0, i), key, ...this.shown.slice(i)]);
      this.hot.alter("insert_row_above", i, 1, SOURCE);
      const data = this.rowData(key);
      this.hot.setSourceDataAtCell(Object.keys(data).map((prop) => [i, prop, data[prop]]), undefined, undefined, SOURCE);
    });
  }

  /** Appends an empty row; returns its key. */
  addRow() {
    return this.sheet.addRow();
  }

  /** The keys of the rows the selection touches. */
  selectedRowKeys() {
    const selected = this.hot.getSelectedRange() ?? [];
    const keys = new Set();
    for (const range of selected) {
      const [top, bottom] = [range.getTopStartCorner().row, range.getBottomEndCorner().row];
      for (let row = Math.max(top, 0); row <= bottom; row += 1) keys.add(this.keyAt(row));
    }
    return [...keys];
  }

  /** Deletes the rows the selection touches. */
  deleteSelectedRows() {
    this.sheet.deleteRows(this.selectedRowKeys());
  }

  destroy() {
    super.destroy();
    this.hot?.destroy();
  }
}

function columnSettings(column, sheet) {
  const settings = { data: column.name, type: TYPES[column.type] ?? "text", readOnly: !sheet.canEdit(column) };
  if (column.choices) Object.assign(settings, { type: "dropdown", source: column.choices });
  if (!settings.readOnly) {
    settings.allowInvalid = false;
    settings.validator = (value, callback) => {
      try {
        toCell(value, column);
        callback(true);
      } catch {
        callback(false);
      }
    };
  }
  return settings;
}
