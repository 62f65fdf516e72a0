// The page around the grid: the connection state (and why the server refused it), who is here,
// the user's name, the toolbar (or a read-only notice), and the cells that were refused.
import { checkedColour, rememberName } from "../presence.js";
import { rowNamer } from "../row-names.js";
import { deleteRows } from "./delete-rows.js";

const STATE_LABELS = { connected: "Connected", syncing: "Syncing…", offline: "Offline", refused: "Access refused" };
const REFUSALS = {
  4401: "You are not signed in to this sheet: the server did not accept your access token",
  4403: "You do not have access to this sheet",
};

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "onclick") node.addEventListener("click", value);
    else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

/** What the page says when the server refused the connection ({code, reason}). */
function refusalMessage({ code, reason }) {
  const what = REFUSALS[code] ?? `The server refused the connection (${code})`;
  return `${what}${reason ? ` (${reason})` : ""}. Open the sheet again from the application that gave you the link.`;
}

/** The user's name: fixed by the access token, or picked here and remembered. */
function nameField(connection) {
  const { user, presence } = connection;
  if (user.id) return element("span", { "data-testid": "user-name", class: "cellsync-user" }, user.name);
  const input = element("input", { "data-testid": "user-name", value: user.name, "aria-label": "Your name", size: "14" });
  input.addEventListener("change", () => {
    user.name = input.value.trim();
    rememberName(user.name);
    presence.setName(user.name);
  });
  return element("label", {}, "Your name ", input);
}

function editButtons(sheet, grid) {
  if (!sheet.writable) {
    const notice = "You may read this sheet but not change it";
    return [element("span", { class: "cellsync-read-only", "data-testid": "read-only", title: notice }, "Read only")];
  }
  return [
    element("button", { "data-testid": "add-row", onclick: () => grid.addRow() }, "Add row"),
    element("button", { "data-testid": "delete-rows", onclick: () => deleteRows(sheet, grid) }, "Delete rows"),
    element("button", { "data-testid": "undo", title: "Ctrl+Z", onclick: () => sheet.undo() }, "Undo"),
    element("button", { "data-testid": "redo", title: "Ctrl+Shift+Z", onclick: () => sheet.redo() }, "Redo"),
  ];
}

/** Fills the toolbar, people and refusals slots of `root` for a connection and its grid. */
export function renderChrome(root, connection, grid) {
  const { sheet, status, presence } = connection;
  const statusBadge = element("span", { class: "cellsync-status", "data-testid": "connection-status", role: "status", "aria-live": "polite" });
  const alert = element("p", { class: "cellsync-alert", role: "alert", "data-testid": "access-refused", hidden: "" });
  const toolbar = element("div", { class: "cellsync-toolbar" }, ...editButtons(sheet, grid), nameField(connection), statusBadge, alert);
  const people = element("ul", { class: "cellsync-people", "data-testid": "people" });
  const refusals = element("ul", { class: "cellsync-refusals", "data-testid": "refusals" });
  root.querySelector("[data-slot=toolbar]").replaceWith(toolbar);
  root.querySelector("[data-slot=people]").replaceWith(people);
  root.querySelector("[data-slot=refusals]").replaceWith(refusals);

  status.subscribe(({ state, pending, refusal }) => {
    statusBadge.dataset.state = state;
    statusBadge.dataset.pending = String(pending);
    const unsent = pending ? ` · ${pending} edit${pending === 1 ? "" : "s"} not sent` : "";
    statusBadge.textContent = STATE_LABELS[state] + unsent;
    alert.hidden = !refusal;
    alert.textContent = refusal ? refusalMessage(refusal) : "";
  });
  presence.subscribe((others) => {
    const me = { id: connection.provider.awareness.clientID, name: `${connection.user.name || "you"} (you)` };
    people.replaceChildren(
      ...[me, ...others].map((person) => {
        const item = element("li", { "data-testid": "person" }, person.name);
        item.style.setProperty("--colour", checkedColour(person.colour, person.id));
        return item;
      }),
    );
  });
  sheet.refused.subscribe((cells) => {
    const rowName = rowNamer(sheet);
    refusals.replaceChildren(
      ...cells.map(({ row, column, reason }) => {
        const where = column ? `${column}, ${rowName(row)}` : rowName(row);
        return element("li", { "data-testid": "refusal" }, `${where}: ${reason}`);
      }),
    );
  });
}
