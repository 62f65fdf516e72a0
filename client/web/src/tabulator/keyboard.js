// Spreadsheet habits on a Tabulator grid: typing into a selected cell starts editing it, Enter
// and Tab commit and move, Delete clears the selection, Ctrl+Z / Ctrl+Shift+Z / Ctrl+Y undo and
// redo this user's edits, Ctrl+C / Ctrl+V copy and paste ranges.
import { copySelection, pasteEdits, selectedRange } from "./clipboard.js";
import { activeCell, isEditing, moveSelection } from "./internals.js";

export function installKeyboard(binding) {
  const { table, sheet } = binding;
  const element = table.element;
  let moveAfterEdit = null;

  const onKeyDown = (event) => {
    const command = event.ctrlKey || event.metaKey;
    if (isEditing(table)) {
      if (event.key === "Escape") moveAfterEdit = null;
      if (event.key === "Enter") moveAfterEdit = event.shiftKey ? "up" : "down";
      if (event.key === "Tab") {
        moveAfterEdit = event.shiftKey ? "left" : "right";
        event.preventDefault();
        event.stopPropagation();
        document.activeElement?.blur();
      }
      return;
    }
    if (command && event.key.toLowerCase() === "z") {
      if (event.shiftKey) sheet.redo();
      else sheet.undo();
    } else if (command && event.key.toLowerCase() === "y") {
      sheet.redo();
    } else if (event.key === "Delete" || event.key === "Backspace") {
      clearSelection(binding);
    } else if (event.key.length === 1 && !command && !event.altKey) {
      if (!startTyping(table, event.key)) return;
    } else {
      return;
    }
    event.preventDefault();
    event.stopPropagation();
  };

  const afterEdit = () => {
    const direction = moveAfterEdit;
    moveAfterEdit = null;
    if (direction) queueMicrotask(() => moveSelection(table, direction));
  };

  const onCopy = (event) => {
    if (!isEditing(table)) copySelection(table, event);
  };

  const onPaste = (event) => {
    if (isEditing(table)) return;
    event.preventDefault();
    event.stopPropagation();
    sheet.setCells(pasteEdits(table, event.clipboardData.getData("text/plain"), binding.keyOf));
  };

  element.addEventListener("keydown", onKeyDown, true);
  element.addEventListener("copy", onCopy);
  element.addEventListener("paste", onPaste, true);
  table.on("cellEdited", afterEdit);
  table.on("cellEditCancelled", afterEdit);
}

/** Opens the editor of the active cell with `text` typed in; false if it is not editable. */
function startTyping(table, text) {
  const cell = activeCell(table);
  if (!cell || !cell.getColumn().getDefinition().editor) return false;
  cell.edit(true);
  const input = cell.getElement().querySelector("input:not([type=checkbox]), textarea");
  if (input) {
    input.value = text;
    // The editor selected the old contents; a value equal to them keeps that selection, and
    // the next key typed would replace the first.
    if (input.type === "text") input.setSelectionRange(text.length, text.length);
    input.dispatchEvent(new Event("input", { bubbles: true }));
  }
  return true;
}

/** Empties the selected cells ("" is null for every column but non-nullable text). */
function clearSelection(binding) {
  const range = selectedRange(binding.table);
  if (!range) return;
  const edits = range.rows.flatMap((row) =>
    range.columns.map((column) => ({ key: binding.keyOf(row), column: column.getField(), value: "" })),
  );
  binding.sheet.setCells(edits);
}
