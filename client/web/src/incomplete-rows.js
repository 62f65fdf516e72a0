// New rows still missing a value their table requires (`required` columns: NOT NULL, and the
// database fills nothing in). The server does not insert them, and refuses nothing, while they
// are incomplete; once nobody has a cell of such a row selected (its user left it), it is
// listed with the refusals as one message naming the empty columns.

export class IncompleteRows {
  constructor(connection) {
    this.sheet = connection.sheet;
    this.awareness = connection.provider.awareness;
    this.candidates = new Set(); // rows with an empty required cell, left or not
    this.shown = "";
    this.unsubscribe = connection.changes.subscribe((change) => {
      if (change.columns) this.scan(this.sheet.rows.keys());
      else this.scan(change.cells.keys());
      this.update();
    });
    this.onAwareness = () => this.update();
    this.awareness.on("change", this.onAwareness);
    this.scan(this.sheet.rows.keys());
    this.update();
  }

  required() {
    return this.sheet.columns().filter((column) => column.required && column.name !== this.sheet.pk);
  }

  /** Rechecks the rows `keys`. */
  scan(keys) {
    const required = this.required();
    if (!required.length) return this.candidates.clear(); // no row can lack a value: none read
    for (const key of keys) {
      if (this.missing(key, required).length) this.candidates.add(key);
      else this.candidates.delete(key);
    }
  }

  missing(key, required = this.required()) {
    const row = this.sheet.rows.get(key);
    return row ? required.filter((column) => (row.get(column.name) ?? null) === null).map((column) => column.name) : [];
  }

  /** Lists the incomplete rows no one is in, when that list changed. */
  update() {
    const occupied = new Set();
    this.awareness.getStates().forEach((state) => {
      if (typeof state?.cursor?.row === "string") occupied.add(state.cursor.row);
    });
    const rows = [...this.candidates]
      .filter((key) => !occupied.has(key))
      .map((key) => ({ row: key, columns: this.missing(key) }))
      .filter(({ columns }) => columns.length);
    const shown = JSON.stringify(rows);
    if (shown === this.shown) return;
    this.shown = shown;
    this.sheet.refused.wait(rows);
  }

  destroy() {
    this.unsubscribe();
    this.awareness.off("change", this.onAwareness);
  }
}
