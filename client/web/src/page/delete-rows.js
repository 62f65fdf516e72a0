// "Delete rows" says which rows it deleted, by position and key value, with Undo for a while;
// before the user has selected anything (the cell selected at load is not a choice), it
// deletes nothing and says what to do.
import { rowNamer } from "../row-names.js";

const SHOWN_MS = 10_000;
const NAMED = 3; // rows named in the toast; more are counted

let toast = null;

/** Deletes the rows of `grid`'s selection from `sheet` and shows the toast. */
export function deleteRows(sheet, grid) {
  const keys = grid.selectedRowKeys();
  if (!keys.length) return show("Select a cell in each row to delete, then press Delete rows again.");
  const rowName = rowNamer(sheet);
  const names = keys.slice(0, NAMED).map(rowName);
  if (keys.length > NAMED) names.push(`${keys.length - NAMED} more`);
  sheet.deleteRows(keys);
  const undo = () => {
    sheet.undo();
    hide();
  };
  show(`Deleted ${names.join(", ")}.`, undo);
  // Undo is the sheet's undo: offered while the deletion is this user's last edit.
  const hideOnEdit = (transaction) => transaction.origin === sheet.origin && hide();
  sheet.doc.on("afterTransaction", hideOnEdit);
  toast.cleanup = () => sheet.doc.off("afterTransaction", hideOnEdit);
}

function show(text, undo = null) {
  hide();
  const node = document.createElement("div");
  node.className = "cellsync-toast";
  node.dataset.testid = "delete-toast";
  node.setAttribute("role", "status");
  node.append(text);
  if (undo) {
    const button = document.createElement("button");
    button.type = "button";
    button.dataset.testid = "undo-delete";
    button.textContent = "Undo";
    button.addEventListener("click", undo);
    node.append(" ", button);
  }
  document.body.append(node);
  toast = { node, timer: setTimeout(hide, SHOWN_MS), cleanup: () => {} };
}

function hide() {
  if (!toast) return;
  clearTimeout(toast.timer);
  toast.cleanup();
  toast.node.remove();
  toast = null;
}
