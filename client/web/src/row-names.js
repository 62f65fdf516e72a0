// Rows as people name them in messages: by their position in the sheet and their key value
// ("row 3 (id 17)"), or "new row 11" before the table gave it a key; never by the document's
// internal row key.

/** A function naming rows of `sheet` by their position now: call it again after rows move. */
export function rowNamer(sheet) {
  const positions = new Map(sheet.keys().map((key, i) => [key, i + 1]));
  const pk = sheet.pk;
  return (key) => {
    const position = positions.get(key);
    const value = sheet.rows.get(key)?.get(pk);
    if (position === undefined) return "a deleted row";
    if (value === null || value === undefined) return `new row ${position}`;
    return `row ${position} (${pk} ${value})`;
  };
}
