// Why the text in a cell editor cannot be saved, shown under the editor (above it near the
// bottom of the grid) in readable text, while the editor stays open with the text as typed so
// the user can fix it. The message belongs to the editor's element and goes with it.
let messages = 0;

export class EditorMessage {
  /** `editor`: the element the editor returns; `input`: the field that holds the text. */
  constructor(editor, input) {
    this.editor = editor;
    this.input = input;
    this.node = null;
  }

  show(reason) {
    if (!this.node) {
      messages += 1;
      this.node = document.createElement("div");
      this.node.id = `cellsync-editor-message-${messages}`;
      this.node.className = "cellsync-editor-message";
      this.node.setAttribute("role", "alert");
      this.node.dataset.testid = "editor-message";
      this.editor.append(this.node);
      this.input.setAttribute("aria-describedby", this.node.id);
    }
    const holder = this.editor.closest(".tabulator-tableholder");
    const cell = this.editor.getBoundingClientRect();
    const below = !holder || cell.bottom + 60 < holder.getBoundingClientRect().bottom;
    this.node.dataset.side = below ? "below" : "above";
    this.node.textContent = reason;
    this.input.setAttribute("aria-invalid", "true");
  }

  hide() {
    this.node?.remove();
    this.node = null;
    this.input.removeAttribute("aria-invalid");
    this.input.removeAttribute("aria-describedby");
  }
}
