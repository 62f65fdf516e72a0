// This user's own view of the sheet: sorted by a header's arrow, filtered under the headers,
// searched from the toolbar. It changes what the grid shows and in which order, never the
// document (its `order` is everyone's), so no one else sees it. Also keeps the grid's ARIA row
// and column counts and each row's aria-rowindex, and tells the page how many rows are shown.
//
// Tabulator filters and sorts only when asked. So, as in Airtable: a row this user changes
// stays where it is while they work in it, and takes its place in the view (or leaves it) once
// their selection leaves it; rows someone else changed, added or removed are put where the
// view says at once (a burst of remote edits is applied once), without moving this user's
// selection off its cell.
import { KEY } from "../grid-binding.js";
import { FILTER_DELAY_MS, rowShows } from "./filtering.js";
import {
  activeCell,
  activePosition,
  filteredRows,
  headerRow,
  isEditing,
  keepThroughFilters,
  onEditorClosed,
  selectPosition,
  watchRowPositions,
} from "./internals.js";

/** Remote changes within this long are put in the view together. */
const REAPPLY_DELAY_MS = 80;
/** A remote change to more rows than this re-applies the view without checking each row. */
const CHECKED_ROWS = 50;
/** The class of a row kept in view that the filters will hide once the user leaves it. */
const HIDDEN_ONCE_LEFT = "cellsync-hidden-once-left";

export class GridView {
  constructor(binding) {
    this.binding = binding;
    this.table = binding.table;
    this.listeners = new Set();
    this.searched = "";
    this.searchTimer = null;
    this.emitQueued = false;
    /** Keys of rows this user changed, shown whatever the view until their selection leaves. */
    this.kept = new Set();
    this.reapplyTimer = null;
    this.reapplyAfterEdit = false;
    this.search = (row) => rowShows(row, this.searched, this.binding.sheet.columns());
    this.passes = keepThroughFilters(this.table, (row) => this.kept.has(row.getData()[KEY]));
    // The header row is 1; aria-rowindex follows a row as sorting and filtering move it.
    watchRowPositions(this.table, (row, position) => {
      if (position) row.getElement().setAttribute("aria-rowindex", String(position + 1));
    });
    const changed = () => this.queueEmit();
    for (const event of ["dataFiltered", "dataProcessed", "rowAdded", "rowDeleted", "dataSorted"]) {
      this.table.on(event, changed);
    }
    this.table.on("rangeChanged", () => this.onSelection());
    onEditorClosed(this.table, () => {
      if (this.reapplyAfterEdit) this.queueReapply();
    });
    this.table.on("tableBuilt", () => {
      this.table.element.setAttribute("aria-label", this.binding.sheet.meta.get("table") ?? "sheet");
      headerRow(this.table).setAttribute("aria-rowindex", "1");
      changed();
    });
  }

  /** {shown, total, filtered, sorted}: rows shown and in the sheet; whether a filter, search or
   * sort is in force. */
  state() {
    return {
      shown: this.table.getDataCount("active"),
      total: this.table.getDataCount(),
      filtered: this.filtered(),
      sorted: this.sorted(),
    };
  }

  filtered() {
    return Boolean(this.searched) || this.table.getHeaderFilters().length > 0;
  }

  sorted() {
    return this.table.getSorters().length > 0;
  }

  /** `listener(state())` now and whenever it changes; returns an unsubscribe. */
  subscribe(listener) {
    this.listeners.add(listener);
    if (this.binding.built && this.table.initialized) listener(this.state());
    return () => this.listeners.delete(listener);
  }

  /** Shows only rows where some cell shows `text` (any case); "" shows every row. */
  setSearch(text) {
    clearTimeout(this.searchTimer);
    this.searchTimer = setTimeout(() => {
      const wanted = text.trim().toLowerCase();
      if (wanted === this.searched) return;
      const before = this.searched;
      this.searched = wanted;
      if (!wanted) this.table.removeFilter(this.search);
      else if (!before) this.table.addFilter(this.search);
      else this.table.refreshFilter();
    }, FILTER_DELAY_MS);
  }

  /** Shows or hides the filters under the headers (hiding clears them). */
  showFilters(shown) {
    this.table.element.classList.toggle("cellsync-filters-shown", shown);
    if (!shown) this.table.clearHeaderFilter();
    this.table.redraw();
  }

  /** Back to the document's order and every row. */
  reset() {
    this.unkeep();
    this.table.clearSort();
    this.table.clearHeaderFilter();
    this.searched = "";
    this.table.removeFilter(this.search);
  }

  /** After the grid applied a change of the document (a ChangeFeed summary) to its rows. */
  applied(change) {
    const filtered = this.filtered();
    const sorted = this.sorted();
    if (!filtered && !sorted) return this.unkeep(); // the grid shows the document as it is
    if (change.local) change.cells.forEach((_, key) => this.keep(key, filtered));
    else if (change.structure || this.misplaced(change.cells, filtered, sorted)) this.queueReapply();
  }

  /** Whether rows changed (`cells`: key -> Set of columns, null: all) now pass the filters
   * where they did not, or the other way round, or changed a column the rows are sorted by. */
  misplaced(cells, filtered, sorted) {
    if (cells.size > CHECKED_ROWS) return true;
    if (sorted) {
      const fields = new Set(this.table.getSorters().map((sorter) => sorter.field));
      for (const columns of cells.values()) {
        if (columns === null || [...columns].some((column) => fields.has(column))) return true;
      }
    }
    if (!filtered) return false;
    const shown = filteredRows(this.table);
    for (const key of cells.keys()) {
      const row = this.table.getRow(key);
      if (row && !this.kept.has(key) && this.passes(row) !== shown.has(row)) return true;
    }
    return false;
  }

  /** Keeps a row this user changed in view; marked when the filters would hide it. */
  keep(key, filtered) {
    this.kept.add(key);
    const row = this.table.getRow(key);
    if (row) mark(row.getElement(), filtered && !this.passes(row));
  }

  unkeep() {
    for (const key of this.kept) {
      const row = this.table.getRow(key);
      if (row) mark(row.getElement(), false);
    }
    this.kept.clear();
  }

  /** The selection left the rows this user changed: they take their places in the view. */
  onSelection() {
    if (!this.kept.size) return;
    const cell = activeCell(this.table);
    if (cell && this.kept.has(this.binding.keyOf(cell.getRow()))) return;
    this.unkeep();
    this.queueReapply();
  }

  queueReapply() {
    if (this.reapplyTimer !== null) return;
    this.reapplyTimer = setTimeout(() => {
      this.reapplyTimer = null;
      this.reapply();
    }, REAPPLY_DELAY_MS);
  }

  /** Filters and sorts every row again; the selected cell stays selected wherever its row
   * goes. Waits for an open editor to close: its cell must not move under the user. */
  reapply() {
    if (isEditing(this.table)) {
      this.reapplyAfterEdit = true;
      return;
    }
    this.reapplyAfterEdit = false;
    this.keepSelection(() => this.table.refreshFilter());
  }

  /** Runs `change` (of the rows shown), after which the selected cell is selected again
   * wherever its row went: refiltering moves rows, reloading the data resets the selection. */
  keepSelection(change) {
    const cell = activeCell(this.table);
    const at = activePosition(this.table);
    change();
    const row = cell && this.table.getRow(this.binding.keyOf(cell.getRow()));
    const position = row ? row.getPosition() : false;
    const now = activePosition(this.table);
    if (position && at && (position - 1 !== now?.row || at.column !== now.column)) {
      selectPosition(this.table, position - 1, at.column);
    }
  }

  queueEmit() {
    if (this.emitQueued) return;
    this.emitQueued = true;
    queueMicrotask(() => {
      this.emitQueued = false;
      const state = this.state();
      const element = this.table.element;
      element.setAttribute("aria-rowcount", String(state.shown + 1)); // the header row counts
      element.setAttribute("aria-colcount", String(this.binding.sheet.columns().length + 1));
      this.listeners.forEach((listener) => listener(state));
    });
  }
}

function mark(element, hidden) {
  element.classList.toggle(HIDDEN_ONCE_LEFT, hidden);
  if (hidden) element.title = "Your filter hides this row once you leave it";
  else element.removeAttribute("title");
}
