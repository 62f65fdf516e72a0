// The sheet document, layout version 1 (docs/sheet-document.md): the same layout that
// persistence/document.py reads and writes.
import * as Y from "yjs";

export const SCHEMA_VERSION = 1;

/** The document's shared types. `refusals` is written by the server only. */
export function sheetRoots(doc) {
  return {
    meta: doc.getMap("meta"),
    rows: doc.getMap("rows"),
    order: doc.getArray("order"),
    refusals: doc.getMap("refusals"),
  };
}

/** Row keys in display order, skipping duplicates and keys that have no row. */
export function visibleKeys(order, rows) {
  const seen = new Set();
  const keys = [];
  for (const key of order.toArray()) {
    if (typeof key === "string" && !seen.has(key) && rows.get(key) instanceof Y.Map) {
      seen.add(key);
      keys.push(key);
    }
  }
  return keys;
}

/** A key for a row created here: random, because concurrent counters collide. */
export function newRowKey() {
  return crypto.randomUUID().replaceAll("-", "");
}

/** The `refusals` map's key for one cell; column "" stands for the whole row. */
export function refusalKey(rowKey, column) {
  return `${rowKey}\u0000${column}`;
}

export function parseRefusalKey(key) {
  const split = key.indexOf("\u0000");
  return split < 0 ? null : { row: key.slice(0, split), column: key.slice(split + 1) };
}
