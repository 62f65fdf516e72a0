// The editor of date and datetime cells: a text input holding the cell's ISO text as it is
// (an offset and microseconds included, which <input type=datetime-local> cannot hold, so
// opening the editor never loses them), and a button opening the browser's own picker on a
// native input. Typed text goes to the sheet, which reads it and refuses what is no date
// (values.js); a pick is put into the text, keeping the offset and what the picker cannot show.
import { afterPick, pickerValue } from "../values.js";

const PICKER_TYPES = { date: "date", datetime: "datetime-local" };

/** A Tabulator editor for columns of `type` "date" or "datetime". */
export function dateEditor(type) {
  return (cell, onRendered, success, cancel) => {
    const before = cell.getValue() ?? "";
    const text = element("input", { type: "text", value: before, autocomplete: "off" });
    Object.assign(text.style, { flex: "1", minWidth: "0", padding: "4px", border: "none" });
    const picker = element("input", { type: PICKER_TYPES[type], tabIndex: -1, value: pickerValue(before, type) });
    if (type === "datetime") picker.step = "0.001";
    Object.assign(picker.style, { position: "absolute", right: "0", bottom: "0", width: "1px", height: "1px", opacity: "0" });
    const button = element("button", { type: "button", tabIndex: -1, textContent: "▾", title: "Pick from a calendar" });
    Object.assign(button.style, { border: "none", background: "none", padding: "0 4px", cursor: "pointer" });
    const editor = element("div", { className: "cellsync-date-editor" });
    Object.assign(editor.style, { position: "relative", display: "flex", height: "100%", boxSizing: "border-box" });
    editor.append(text, button, picker);

    const commit = (value) => (value === before ? cancel() : success(value));
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
      if (document.hasFocus() && !editor.contains(event.relatedTarget)) commit(text.value);
    });
    text.addEventListener("keydown", (event) => {
      if (event.key === "Enter") commit(text.value);
      else if (event.key === "Escape") cancel();
      else if (event.key === "Home" || event.key === "End") event.stopPropagation();
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
