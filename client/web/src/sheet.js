// A sheet's document as rows and cells: read, write, add and delete rows, undo and redo this
// user's own edits. Knows nothing about networks or grids. A read-only sheet (`writable:
// false`, a user with the right to read only) writes nothing.
import * as Y from "yjs";
import { newRowKey, sheetRoots, visibleKeys } from "./layout.js";
import { Refusals } from "./refusals.js";
import { isEditable, toCell } from "./values.js";

export class Sheet {
  constructor(doc, { writable = true } = {}) {
    this.doc = doc;
    this.writable = writable;
    Object.assign(this, sheetRoots(doc));
    /** Cells refused by the server or here (values their column cannot take). */
    this.refused = new Refusals(this.refusals);
    /** The origin of every transaction made here; the undo manager tracks only this one. */
    this.origin = { sheet: this };
    this.undoManager = new Y.UndoManager([this.rows, this.order], {
      trackedOrigins: new Set([this.origin]),
    });
  }

  get pk() {
    return this.meta.get("pk");
  }

  /** The column descriptions of `meta.columns`, or [] before the first sync. */
  columns() {
    return this.meta.get("columns") ?? [];
  }

  column(name) {
    return this.columns().find((column) => column.name === name);
  }

  /** Whether this user may edit the column (`column`: a description from columns()). */
  canEdit(column) {
    return this.writable && isEditable(column, this.pk);
  }

  keys() {
    return visibleKeys(this.order, this.rows);
  }

  /** One row's cells as a plain object, or undefined. */
  row(key) {
    return this.rows.get(key)?.toJSON();
  }

  /** Writes cells as one transaction and one undo step. `edits`: [{key, column, value}];
   * values are converted by column type; edits to missing rows or read-only columns are
   * skipped, and values a column cannot take are skipped and recorded in `refused`.
   * Returns the number of cells written. */
  setCells(edits) {
    let written = 0;
    this.transact(() => {
      for (const { key, column, value } of edits) {
        const row = this.rows.get(key);
        const description = this.column(column);
        if (!(row instanceof Y.Map) || !description || !this.canEdit(description)) continue;
        let cell;
        try {
          cell = toCell(value, description);
        } catch (error) {
          this.refused.refuse(key, column, error.message, value);
          continue;
        }
        this.refused.accept(key, column);
        if (row.get(column) !== cell) {
          row.set(column, cell);
          written += 1;
        }
      }
    });
    return written;
  }

  setCell(key, column, value) {
    return this.setCells([{ key, column, value }]) === 1;
  }

  /** Appends a row and returns its random key (null on a read-only sheet); the primary key
   * cell stays null until the server's persistence worker fills it in. */
  addRow(cells = {}) {
    const key = newRowKey();
    return this.insertRows([{ key, cells }]) ? key : null;
  }

  /** Inserts rows [{key, cells}] after the row `afterKey` (null: at the end; undefined: at the
   * top), in one transaction. Cells the row's columns cannot take are left null. Returns
   * whether the rows were inserted (not on a read-only sheet). */
  insertRows(rows, afterKey = null) {
    return this.transact(() => {
      for (const { key, cells = {} } of rows) {
        const row = new Y.Map();
        for (const column of this.columns()) {
          const value = cells[column.name];
          row.set(column.name, value === undefined || !this.canEdit(column) ? null : (safeCell(value, column) ?? null));
        }
        this.rows.set(key, row);
      }
      const at = afterKey === null ? this.order.length : this.order.toArray().indexOf(afterKey) + 1;
      this.order.insert(at, rows.map((row) => row.key));
    });
  }

  /** Deletes rows (and every place `order` lists them) in one transaction. */
  deleteRows(keys) {
    const doomed = new Set(keys);
    this.transact(() => {
      const listed = this.order.toArray();
      for (let i = listed.length - 1; i >= 0; i -= 1) {
        if (doomed.has(listed[i])) this.order.delete(i, 1);
      }
      for (const key of doomed) this.rows.delete(key);
    });
  }

  /** Runs `change` as one local transaction that is one undo step; false (and nothing runs)
   * on a read-only sheet. */
  transact(change) {
    if (!this.writable) return false;
    this.undoManager.stopCapturing();
    this.doc.transact(change, this.origin);
    this.undoManager.stopCapturing();
    return true;
  }

  undo() {
    this.undoManager.undo();
  }

  redo() {
    this.undoManager.redo();
  }

  destroy() {
    this.refused.destroy();
    this.undoManager.destroy();
  }
}

/** The value as a cell of `column`, or undefined if the column cannot take it. */
function safeCell(value, column) {
  try {
    return toCell(value, column);
  } catch {
    return undefined;
  }
}
