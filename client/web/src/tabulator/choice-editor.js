// The editor of a column with choices (an enum, or a CHECK ... IN list): type a choice in full
// or a unique beginning of it (any case), or pick it from the list under the cell with the
// mouse or the arrow keys. Text that names no choice stays in the editor with the choices
// listed under it.
import { EditorMessage } from "./editor-message.js";

let lists = 0;

/** A Tabulator editor for `column` (with `choices`). */
export function choiceEditor(column) {
  const options = column.nullable ? ["", ...column.choices] : column.choices;
  return (cell, onRendered, success, cancel) => {
    const before = cell.getValue() ?? "";
    lists += 1;
    const editor = document.createElement("div");
    editor.className = "cellsync-editor";
    const input = document.createElement("input");
    Object.assign(input, { type: "text", value: before, autocomplete: "off", spellcheck: false });
    const list = document.createElement("ul");
    list.id = `cellsync-choices-${lists}`;
    list.className = "cellsync-choices";
    list.setAttribute("role", "listbox");
    input.setAttribute("role", "combobox");
    input.setAttribute("aria-label", `${column.name}: choose`);
    input.setAttribute("aria-autocomplete", "list");
    input.setAttribute("aria-controls", list.id);
    input.setAttribute("aria-expanded", "true");
    editor.append(input, list);
    const message = new EditorMessage(editor, input);
    let done = false;
    let active = -1;
    let shown = options;
    let typing = false; // until the user types, every choice is listed

    const finish = (value) => {
      done = true;
      if (value === before) cancel();
      else success(value);
    };
    const commit = () => {
      if (done) return true;
      const value = active >= 0 ? shown[active] : choiceFor(input.value, options);
      if (value === undefined) {
        message.show(`“${input.value}” is not a choice: ${column.choices.join(", ")}`);
        return false;
      }
      finish(value);
      return true;
    };
    const render = () => {
      const typed = typing ? input.value.trim().toLowerCase() : "";
      const matching = options.filter((option) => option.toLowerCase().startsWith(typed));
      shown = matching.length ? matching : options;
      active = Math.min(active, shown.length - 1);
      list.replaceChildren(
        ...shown.map((option, i) => {
          const item = document.createElement("li");
          item.setAttribute("role", "option");
          item.id = `${list.id}-${i}`;
          item.setAttribute("aria-selected", String(i === active));
          item.dataset.value = option;
          item.className = option === "" ? "cellsync-choice-empty" : "";
          item.textContent = option === "" ? "(empty)" : option;
          return item;
        }),
      );
      if (active >= 0) input.setAttribute("aria-activedescendant", `${list.id}-${active}`);
      else input.removeAttribute("aria-activedescendant");
    };
    list.addEventListener("mousedown", (event) => event.preventDefault()); // the input keeps the focus
    list.addEventListener("click", (event) => {
      const item = event.target.closest("[role=option]");
      if (item) finish(item.dataset.value);
    });
    input.addEventListener("input", () => {
      typing = true;
      active = -1;
      message.hide();
      render();
    });
    input.addEventListener("keydown", (event) => {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        const step = event.key === "ArrowDown" ? 1 : -1;
        active = (active + step + shown.length) % shown.length;
        render();
        event.preventDefault();
        event.stopPropagation();
      } else if (event.key === "Enter" && !commit()) event.stopPropagation();
      else if (event.key === "Escape") {
        done = true;
        cancel();
      }
    });
    input.addEventListener("blur", () => {
      if (!done && document.hasFocus() && !commit()) setTimeout(() => input.isConnected && input.focus());
    });
    onRendered(() => {
      const holder = editor.closest(".tabulator-tableholder");
      const room = holder ? holder.getBoundingClientRect().bottom - editor.getBoundingClientRect().bottom : 999;
      list.dataset.side = room > 160 ? "below" : "above";
      render();
      input.focus({ preventScroll: true });
      input.select();
    });
    return editor;
  };
}

/** The choice `text` names: itself in any case, or the only choice it begins; "" for empty;
 * undefined when it names none. */
export function choiceFor(text, options) {
  const typed = text.trim().toLowerCase();
  if (typed === "") return options.includes("") ? "" : undefined;
  const exact = options.find((option) => option.toLowerCase() === typed);
  if (exact !== undefined) return exact;
  const starting = options.filter((option) => option.toLowerCase().startsWith(typed));
  return starting.length === 1 ? starting[0] : undefined;
}
