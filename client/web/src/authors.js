// Who wrote a cell: the Yjs client that made its current value, named by that client's
// presence (awareness) state while it is here. Used to say who changed a cell under an editor
// and whose value won over an offline edit.

/** The Yjs client id that wrote the cell's current value, or null. */
export function writerOf(sheet, key, column) {
  // Y.Map keeps each key's current Item in `_map`: yjs has no public API for an entry's origin.
  return sheet.rows.get(key)?._map?.get(column)?.id.client ?? null;
}

/** The name of Yjs client `client` (from writerOf), or "someone else" when it is not here
 * (a user who left, or the server: the table's own values). */
export function nameOf(presence, client) {
  return presence.others().find((person) => person.id === client)?.name ?? "someone else";
}
