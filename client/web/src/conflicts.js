// Offline edits that lost: while this tab is not connected, the cells it writes are kept with
// the value written (in localStorage too, as the edits survive a reload in IndexedDB). Once the
// tab has synced, the merged document is compared with them: each cell that now holds another
// value lost a same-cell race, and is reported with the value that won and who wrote it.
// "Use mine" writes the user's value again as a new edit.
import * as Y from "yjs";
import { writerOf } from "./authors.js";

export class OfflineConflicts {
  /** `storageKey`: where this sheet's pending cells are kept across reloads. */
  constructor(connection, storageKey) {
    this.connection = connection;
    this.sheet = connection.sheet;
    this.storageKey = storageKey;
    this.pending = new Map(readStored(storageKey));
    /** [{key, column, mine, won, writer}]: the cells that lost, until used or dismissed. */
    this.conflicts = [];
    this.listeners = new Set();
    this.onTransaction = (transaction) => {
      if (transaction.origin === this.sheet.origin && connection.status.state !== "connected") this.note(transaction);
    };
    this.onSync = (synced) => {
      if (synced) this.compare();
    };
    this.sheet.doc.on("afterTransaction", this.onTransaction);
    connection.provider.on("sync", this.onSync);
  }

  /** Keeps the value of each cell of an existing row the transaction wrote. */
  note(transaction) {
    transaction.changed.forEach((columns, type) => {
      const key = type._item?.parentSub;
      if (!(type instanceof Y.Map) || type._item?.parent !== this.sheet.rows || !key) return;
      for (const column of columns) {
        if (column !== null) this.pending.set(cellId(key, column), { key, column, mine: type.get(column) ?? null });
      }
    });
    this.store();
  }

  /** After a sync: the pending cells whose value the merge replaced become conflicts. */
  compare() {
    if (!this.pending.size) return;
    for (const { key, column, mine } of this.pending.values()) {
      const row = this.sheet.rows.get(key);
      if (!(row instanceof Y.Map)) continue;
      const won = row.get(column) ?? null;
      if (won === mine) continue;
      this.conflicts = this.conflicts.filter((conflict) => cellId(conflict.key, conflict.column) !== cellId(key, column));
      this.conflicts.push({ key, column, mine, won, writer: writerOf(this.sheet, key, column) });
    }
    this.pending.clear();
    this.store();
    this.emit();
  }

  /** Writes the user's value again (a new edit, one undo step) and forgets the conflict. */
  useMine(conflict) {
    this.sheet.setCell(conflict.key, conflict.column, conflict.mine);
    this.dismiss(conflict);
  }

  dismiss(conflict) {
    this.conflicts = this.conflicts.filter((other) => other !== conflict);
    this.emit();
  }

  dismissAll() {
    this.conflicts = [];
    this.emit();
  }

  /** `listener(conflicts)` now and on every change; returns an unsubscribe. */
  subscribe(listener) {
    this.listeners.add(listener);
    listener(this.conflicts);
    return () => this.listeners.delete(listener);
  }

  emit() {
    this.listeners.forEach((listener) => listener(this.conflicts));
  }

  store() {
    if (this.pending.size) localStorage.setItem(this.storageKey, JSON.stringify([...this.pending], bigintAsText));
    else localStorage.removeItem(this.storageKey);
  }

  destroy() {
    this.sheet.doc.off("afterTransaction", this.onTransaction);
    this.connection.provider.off("sync", this.onSync);
    this.listeners.clear();
  }
}

function cellId(key, column) {
  return `${key}\u0000${column}`;
}

function readStored(storageKey) {
  try {
    return JSON.parse(localStorage.getItem(storageKey) ?? "[]");
  } catch {
    return [];
  }
}

/** JSON has no BigInt (integers past 2^53): kept as text, which the column converts back. */
function bigintAsText(_key, value) {
  return typeof value === "bigint" ? value.toString() : value;
}
