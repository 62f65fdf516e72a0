// A cell changed by someone else while this user edits it: the editor stays open with the
// user's text, the grid's data takes the new value (so Escape shows what is stored), and a
// notice under the editor says who changed it and to what. An editor the user has not typed in
// simply takes the new value. Whatever the grid shows after an editor closes is the
// document's value, or the user's edit on its way to it.
import { nameOf, writerOf } from "../authors.js";
import { editingCell, holdValue, onEditorClosed } from "./internals.js";
import { KEY } from "../grid-binding.js";

const MARGIN_PX = 8;

export class EditConflicts {
  constructor(binding) {
    this.binding = binding;
    this.notice = null;
    onEditorClosed(binding.table, () => this.hideNotice());
  }

  /** Takes the edited cell out of `updates` (grid row data about to be applied), holding its
   * new value under the editor instead. */
  shield(updates) {
    const cell = editingCell(this.binding.table);
    if (!cell) return;
    const key = this.binding.keyOf(cell.getRow());
    const column = cell.getField();
    const data = updates.find((row) => row[KEY] === key && column in row);
    if (!data) return;
    const value = data[column];
    delete data[column];
    if (same(value, cell.getValue())) return;
    const input = cell.getElement().querySelector("input:not([type=checkbox]), textarea");
    const untouched = input && input.value === text(cell.getValue());
    holdValue(cell, value);
    if (untouched) input.value = text(value);
    const who = nameOf(this.binding.connection.presence, writerOf(this.binding.sheet, key, column));
    this.showNotice(cell, who, value, untouched);
  }

  showNotice(cell, who, value, untouched) {
    this.hideNotice();
    const notice = document.createElement("div");
    notice.className = "cellsync-edit-conflict";
    notice.dataset.testid = "edit-conflict";
    notice.setAttribute("role", "status");
    const shown = value === null ? "empty" : `“${text(value)}”`;
    notice.append(
      strong(`${who} changed this cell`),
      untouched ? ` to ${shown}.` : ` to ${shown} while you typed. Enter saves yours over it; Esc keeps theirs.`,
    );
    Object.assign(notice.style, { position: "fixed", zIndex: "20", maxWidth: `${window.innerWidth - 2 * MARGIN_PX}px` });
    document.body.append(notice);
    const cellBox = cell.getElement().getBoundingClientRect();
    const width = notice.offsetWidth;
    notice.style.left = `${Math.max(MARGIN_PX, Math.min(cellBox.left, window.innerWidth - width - MARGIN_PX))}px`;
    notice.style.top = `${cellBox.bottom + 2}px`;
    this.notice = notice;
  }

  hideNotice() {
    this.notice?.remove();
    this.notice = null;
  }

  destroy() {
    this.hideNotice();
  }
}

function strong(content) {
  const node = document.createElement("strong");
  node.textContent = content;
  return node;
}

function text(value) {
  return value === null || value === undefined ? "" : String(value);
}

function same(a, b) {
  return (a ?? null) === (b ?? null);
}
