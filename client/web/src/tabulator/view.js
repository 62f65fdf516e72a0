// This user's own view of the sheet: sorted by a header's arrow, filtered under the headers,
// searched from the toolbar. It changes what the grid shows and in which order, never the
// document (its `order` is everyone's), so no one else sees it. Also keeps the grid's ARIA row
// and column counts, and tells the page how many rows are shown.
import { FILTER_DELAY_MS, rowShows } from "./filtering.js";

export class GridView {
  constructor(binding) {
    this.binding = binding;
    this.table = binding.table;
    this.listeners = new Set();
    this.searched = "";
    this.searchTimer = null;
    this.emitQueued = false;
    this.search = (row) => rowShows(row, this.searched, this.binding.sheet.columns());
    const changed = () => this.queueEmit();
    for (const event of ["dataFiltered", "dataProcessed", "rowAdded", "rowDeleted", "dataSorted"]) {
      this.table.on(event, changed);
    }
    this.table.on("tableBuilt", () => {
      this.table.element.setAttribute("aria-label", this.binding.sheet.meta.get("table") ?? "sheet");
      changed();
    });
  }

  /** {shown, total, filtered, sorted}: rows shown and in the sheet; whether a filter, search or
   * sort is in force. */
  state() {
    const filtered = Boolean(this.searched) || this.table.getHeaderFilters().length > 0;
    return {
      shown: this.table.getDataCount("active"),
      total: this.table.getDataCount(),
      filtered,
      sorted: this.table.getSorters().length > 0,
    };
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
    this.table.clearSort();
    this.table.clearHeaderFilter();
    this.searched = "";
    this.table.removeFilter(this.search);
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
