// The cells refused, wherever the refusal came from: the server (the document's `refusals` map,
// "ROW\0COLUMN" -> {reason, value, at, user}, column "" for a whole row) or this page, for a
// value its column cannot take, which is never sent; and new rows left incomplete, which the
// server does not save until their required cells are filled in.
import * as Y from "yjs";
import { parseRefusalKey, refusalKey } from "./layout.js";

export class Refusals {
  /** `shared`: the document's `refusals` Y.Map. */
  constructor(shared) {
    this.shared = shared;
    this.local = new Map();
    this.waiting = [];
    this.listeners = new Set();
    this.onShared = () => this.emit();
    shared.observeDeep(this.onShared);
  }

  /** Records a value refused here. */
  refuse(row, column, reason, value) {
    this.local.set(refusalKey(row, column), { reason, value, at: Date.now() / 1000 });
    this.emit();
  }

  /** Forgets the refusal made here for a cell, once it holds a value its column took. */
  accept(row, column) {
    if (this.local.delete(refusalKey(row, column))) this.emit();
  }

  /** Lists the incomplete rows `rows` ([{row, columns}]: the required columns still empty),
   * one entry per row. */
  wait(rows) {
    this.waiting = rows;
    this.emit();
  }

  /** [{row, column, reason, value, user, local}], the server's first, then this page's, then
   * the incomplete rows (column ""). */
  list() {
    const cells = [];
    const add = (refusal, key, local) => {
      const cell = parseRefusalKey(key);
      const fields = refusal instanceof Y.Map ? refusal.toJSON() : (refusal ?? {});
      if (!cell) return;
      cells.push({ ...cell, reason: fields.reason ?? "refused by the server", value: fields.value, user: fields.user ?? null, local });
    };
    this.shared.forEach((refusal, key) => add(refusal, key, false));
    this.local.forEach((refusal, key) => add(refusal, key, true));
    for (const { row, columns } of this.waiting) {
      const reason = `not saved until ${columns.join(", ")} ${columns.length === 1 ? "is" : "are"} filled in`;
      cells.push({ row, column: "", reason, value: null, user: null, local: true });
    }
    return cells;
  }

  /** `listener(list)` now and on every change; returns an unsubscribe. */
  subscribe(listener) {
    this.listeners.add(listener);
    listener(this.list());
    return () => this.listeners.delete(listener);
  }

  emit() {
    const cells = this.list();
    this.listeners.forEach((listener) => listener(cells));
  }

  destroy() {
    this.shared.unobserveDeep(this.onShared);
    this.listeners.clear();
  }
}
