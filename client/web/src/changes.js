// Turns the document's events into one summary per transaction, for grids to apply
// incrementally: which cells changed, whether rows appeared or vanished, whether the columns or
// the refusals changed.

export class ChangeFeed {
  constructor(sheet) {
    this.sheet = sheet;
    this.listeners = new Set();
    this.pending = null;
    this.onRows = (events) => events.forEach((event) => this.noteRowEvent(event));
    this.onOrder = () => (this.current().structure = true);
    this.onMeta = () => (this.current().columns = true);
    this.onRefusals = () => (this.current().refusals = true);
    this.onTransaction = (transaction) => this.flush(transaction);
    sheet.rows.observeDeep(this.onRows);
    sheet.order.observe(this.onOrder);
    sheet.meta.observe(this.onMeta);
    sheet.refusals.observeDeep(this.onRefusals);
    sheet.doc.on("afterTransaction", this.onTransaction);
  }

  /** `listener({cells, structure, columns, refusals, local})` after every transaction that
   * changed the sheet; `cells` maps row key -> Set of column names (null: the whole row). Returns an unsubscribe. */
  subscribe(listener) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  current() {
    this.pending ??= { cells: new Map(), structure: false, columns: false, refusals: false };
    return this.pending;
  }

  /** A top-level event adds, removes or replaces whole rows (cells: null, meaning all);
   * a row's own event changes some of its cells. */
  noteRowEvent(event) {
    const change = this.current();
    if (event.path.length === 0) {
      change.structure = true;
      event.keysChanged.forEach((key) => change.cells.set(key, null));
    } else if (event.path.length === 1) {
      const key = event.path[0];
      if (change.cells.get(key) === null) return;
      const columns = change.cells.get(key) ?? new Set();
      event.keysChanged.forEach((column) => columns.add(column));
      change.cells.set(key, columns);
    }
  }

  flush(transaction) {
    const change = this.pending;
    this.pending = null;
    if (!change) return;
    change.local = transaction.origin === this.sheet.origin;
    this.listeners.forEach((listener) => listener(change));
  }

  destroy() {
    this.sheet.rows.unobserveDeep(this.onRows);
    this.sheet.order.unobserve(this.onOrder);
    this.sheet.meta.unobserve(this.onMeta);
    this.sheet.refusals.unobserveDeep(this.onRefusals);
    this.sheet.doc.off("afterTransaction", this.onTransaction);
    this.listeners.clear();
  }
}
