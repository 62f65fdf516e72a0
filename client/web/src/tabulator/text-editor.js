// The editor of text, number and boolean cells: a text input that checks what was typed as the
// sheet will (values.js) before committing. Text the column cannot take stays in the editor,
// with the reason under it, until the user fixes it or leaves with Escape: a typo is never
// thrown away. Multiline (the row view's long text), Enter starts a new line and Ctrl+Enter or
// leaving the field commits.
import { toCell } from "../values.js";
import { EditorMessage } from "./editor-message.js";

/** A Tabulator editor for `column` (a description from meta.columns). */
export function textEditor(column, attributes = {}, { multiline = false } = {}) {
  return (cell, onRendered, success, cancel) => {
    const before = shownText(cell.getValue());
    const editor = document.createElement("div");
    editor.className = "cellsync-editor";
    const input = document.createElement(multiline ? "textarea" : "input");
    if (!multiline) input.type = "text";
    Object.assign(input, { value: before, autocomplete: "off", spellcheck: false });
    for (const [name, value] of Object.entries(attributes)) input.setAttribute(name, value);
    input.setAttribute("aria-label", `${column.name}: edit`);
    editor.append(input);
    const message = new EditorMessage(editor, input);
    let done = false;

    /** Commits the text if the column takes it; false (and the reason shown) if not. */
    const commit = () => {
      if (done) return true;
      if (input.value === before) {
        done = true;
        cancel();
        return true;
      }
      try {
        toCell(input.value, column);
      } catch (error) {
        message.show(error.message);
        return false;
      }
      done = true;
      success(input.value);
      return true;
    };
    input.addEventListener("input", () => message.hide());
    input.addEventListener("keydown", (event) => {
      const commits = event.key === "Enter" && (!multiline || event.ctrlKey || event.metaKey);
      if (commits && !commit()) event.stopPropagation();
      else if (event.key === "Escape") {
        done = true;
        cancel();
      } else if (event.key === "Home" || event.key === "End") event.stopPropagation();
    });
    // Leaving the cell commits; text that cannot be saved keeps the editor open instead.
    input.addEventListener("blur", () => {
      if (!done && document.hasFocus() && !commit()) setTimeout(() => input.isConnected && input.focus());
    });
    onRendered(() => {
      input.focus({ preventScroll: true });
      input.select();
    });
    return editor;
  };
}

/** What the editor shows for a cell: booleans as words, everything else as its text. */
function shownText(value) {
  if (value === null || value === undefined) return "";
  return String(value);
}
