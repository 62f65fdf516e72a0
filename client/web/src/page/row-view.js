// A row's expanded view: every column of the row with its full value, long text wrapped, in a
// dialog opened by the row handle's ⤢, "Expand row" or Shift+Space; Escape closes it and the
// focus goes back to the grid.
import { humanise } from "../column-titles.js";
import { shownText } from "../tabulator/filtering.js";

/** Opens the row view when the grid asks (`cellsync:expand-row` events). */
export function followRowViews(root, sheet) {
  const dialog = document.createElement("dialog");
  dialog.className = "cellsync-row-view";
  dialog.dataset.testid = "row-view";
  dialog.setAttribute("aria-labelledby", "cellsync-row-view-title");
  root.append(dialog);
  let returnTo = null;
  dialog.addEventListener("close", () => returnTo?.focus({ preventScroll: true }));

  root.addEventListener("cellsync:expand-row", (event) => {
    const cells = sheet.row(event.detail.key);
    if (!cells) return;
    returnTo = document.activeElement;
    const title = document.createElement("h2");
    title.id = "cellsync-row-view-title";
    const pk = cells[sheet.pk];
    title.textContent = pk === null || pk === undefined ? "New row" : `${humanise(sheet.pk)} ${pk}`;
    const fields = document.createElement("dl");
    for (const column of sheet.columns()) {
      const name = document.createElement("dt");
      name.textContent = humanise(column.name);
      const value = document.createElement("dd");
      value.textContent = shownText(cells[column.name], column) || "—";
      fields.append(name, value);
    }
    const close = document.createElement("button");
    close.type = "button";
    close.textContent = "Close";
    close.dataset.testid = "row-view-close";
    close.addEventListener("click", () => dialog.close());
    dialog.replaceChildren(title, fields, close);
    dialog.showModal();
    close.focus();
  });
}
