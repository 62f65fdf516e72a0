// A row's expanded view: every column of the row with its full value, long text wrapped, in a
// dialog opened by the row handle's ⤢, "Expand row" or Shift+Space; Escape closes it and the
// focus goes back to the grid. The cells this user may edit are edited here with the grid's
// own editors (the same checks, the same path into the document); text in a multiline field.
// A cell someone else changes meanwhile shows the new value unless this user is in it.
import { humanise } from "../column-titles.js";
import { cellEditor } from "../tabulator/columns.js";
import { shownText } from "../tabulator/filtering.js";

/** Opens the row view when the grid asks (`cellsync:expand-row` events); edits go through
 * `grid.editCell(key, column, value)`. */
export function followRowViews(root, connection, grid) {
  const { sheet } = connection;
  const dialog = document.createElement("dialog");
  dialog.className = "cellsync-row-view";
  dialog.dataset.testid = "row-view";
  dialog.setAttribute("aria-labelledby", "cellsync-row-view-title");
  root.append(dialog);
  let returnTo = null;
  let shown = null; // {key, fields: Map column name -> <dd>}
  dialog.addEventListener("close", () => {
    shown = null;
    returnTo?.focus({ preventScroll: true });
  });

  /** Fills a field with the stored value: an editor, or text where this user cannot edit. */
  const fill = (dd, key, column) => {
    const value = sheet.row(key)?.[column.name] ?? null;
    if (!sheet.canEdit(column)) {
      dd.textContent = shownText(value, column) || "—";
      return;
    }
    const focused = dd.contains(document.activeElement);
    const again = () => fill(dd, key, column);
    const saved = (typed) => {
      grid.editCell(key, column.name, typed);
      again();
    };
    const editor = cellEditor(column, { multiline: true })({ getValue: () => value }, () => {}, saved, again);
    const input = editor.querySelector("input, textarea");
    input.setAttribute("aria-label", humanise(column.name));
    dd.replaceChildren(editor);
    if (focused) input.focus();
  };

  root.addEventListener("cellsync:expand-row", (event) => {
    const { key } = event.detail;
    const cells = sheet.row(key);
    if (!cells) return;
    returnTo = document.activeElement;
    const title = document.createElement("h2");
    title.id = "cellsync-row-view-title";
    const pk = cells[sheet.pk];
    title.textContent = pk === null || pk === undefined ? "New row" : `${humanise(sheet.pk)} ${pk}`;
    const list = document.createElement("dl");
    const fields = new Map();
    for (const column of sheet.columns()) {
      const name = document.createElement("dt");
      name.textContent = humanise(column.name);
      const value = document.createElement("dd");
      value.dataset.column = column.name;
      fill(value, key, column);
      fields.set(column.name, value);
      list.append(name, value);
    }
    const close = document.createElement("button");
    close.type = "button";
    close.textContent = "Close";
    close.dataset.testid = "row-view-close";
    close.addEventListener("click", () => dialog.close());
    dialog.replaceChildren(title, list, close);
    shown = { key, fields };
    dialog.showModal();
    close.focus();
  });

  // Escape in a field with text typed puts the stored value back and keeps the view open.
  dialog.addEventListener("keydown", (event) => {
    const field = event.target.closest?.("dd");
    if (event.key !== "Escape" || !field || !shown) return;
    const column = sheet.column(field.dataset.column);
    if (event.target.value !== editorText(sheet.row(shown.key)?.[column.name])) event.preventDefault();
  }, true);

  connection.changes.subscribe((change) => {
    if (!shown || !change.cells.has(shown.key)) return;
    if (!sheet.row(shown.key)) return dialog.close();
    const columns = change.cells.get(shown.key) ?? shown.fields.keys();
    for (const name of columns) {
      const dd = shown.fields.get(name);
      if (dd && !dd.contains(document.activeElement)) fill(dd, shown.key, sheet.column(name));
    }
  });
}

function editorText(value) {
  return value === null || value === undefined ? "" : String(value);
}
