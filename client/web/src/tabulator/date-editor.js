// The editor of date and datetime cells: a text input holding the cell's ISO text as it is
// (an offset and microseconds included, which <input type=datetime-local> cannot hold, so
// opening the editor never loses them), and a button opening the browser's own picker on a
// native input. Typed text is read as the sheet will (values.js): what is no date stays in the
// editor with the reason under it; a pick is put into the text, keeping the offset and what
// the picker cannot show.
import { afterPick, pickerValue, toCell } from "../values.js";
import { EditorMessage } from "./editor-message.js";

const PICKER_TYPES = { date: "date", datetime: "datetime-local" };

/** A Tabulator editor for `column` (of type "date" or "datetime"). */
export function dateEditor(column) {
  const { type } = column;
  return (cell, onRendered, success, cancel) => {
    const before = cell.getValue() ?? "";
    const text = element("input", { type: "text", value: before, autocomplete: "off" });
    text.setAttribute("aria-label", `${column.name}: edit`);
    Object.assign(text.style, { flex: "1", minWidth: "0", padding: "4px", border: "none" });
    const picker = element("input", { type: PICKER_TYPES[type], tabIndex: -1, value: pickerValue(before, type) });
    if (type === "datetime") picker.step = "0.001";
    Object.assign(picker.style, { position: "absolute", right: "0", bottom: "0", width: "1px", height: "1px", opacity: "0" });
    const button = element("button", { type: "button", tabIndex: -1, textContent: "▾", title: "Pick from a calendar" });
    button.setAttribute("aria-label", "Pick from a calendar");
    Object.assign(button.style, { border: "none", background: "none", padding: "0 4px", cursor: "pointer" });
    const editor = element("div", { className: "cellsync-date-editor" });
    Object.assign(editor.style, { position: "relative", display: "flex", height: "100%", boxSizing: "border-box" });
    editor.append(text, button, picker);

    const message = new EditorMessage(editor, text);
    let done = false;
    /** Commits `value` if the column takes it; false (and the reason shown) if not. */
    const commit = (value) => {
      if (done) return true;
      if (value !== before) {
        try {
          toCell(value, column);
        } catch (error) {
          message.show(error.message);
          return false;
        }
      }
      done = true;
      if (value === before) cancel();
      else success(value);
      return true;
    };
    text.addEventListener("input", () => message.hide());
    button.addEventListener("mousedown", (event) => event.preventDefault()); // the text keeps the focus
    button.addEventListener("click", () => {
      picker.value = pickerValue(text.value, type) || pickerValue(before, type);
      picker.showPicker();
    });
    picker.addEventListener("change", () => {
      if (picker.value) commit(afterPick(picker.value, text.value, type));
    });
    // Focus leaving the page (to another window, or a picker's popup) is no commit.
    text.addEventListener("blur", (event) => {
      if (document.hasFocus() && !editor.contains(event.relatedTarget) && !commit(text.value)) {
        setTimeout(() => text.isConnected && text.focus());
      }
    });
    text.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !commit(text.value)) event.stopPropagation();
      else if (event.key === "Escape") {
        done = true;
        cancel();
      } else if (event.key === "Home" || event.key === "End") event.stopPropagation();
    });
    onRendered(() => {
      text.focus({ preventScroll: true });
      text.select();
    });
    return editor;
  };
}

function element(tag, properties) {
  return Object.assign(document.createElement(tag), properties);
}
