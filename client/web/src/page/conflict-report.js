// The conflict report: after reconnecting, the cells where this user's offline edit lost to
// someone else's, each named by row and column, with both values, who won, and "Use mine".
import { nameOf } from "../authors.js";
import { OfflineConflicts } from "../conflicts.js";
import { rowNamer } from "../row-names.js";

/** Starts tracking `connection`'s offline edits and shows the report in `root` when some lost. */
export function showConflictReport(root, connection) {
  const conflicts = new OfflineConflicts(connection, `${connection.status.storageKey}:cells`);
  const report = document.createElement("section");
  report.className = "cellsync-conflicts";
  report.dataset.testid = "conflict-report";
  report.setAttribute("role", "region");
  report.setAttribute("aria-label", "Offline edits that lost");
  report.hidden = true;
  root.append(report);

  const render = () => {
    const list = conflicts.conflicts;
    report.hidden = list.length === 0;
    if (!list.length) return report.replaceChildren();
    const rowName = rowNamer(connection.sheet);
    const count = list.length === 1 ? "One of your offline edits" : `${list.length} of your offline edits`;
    const close = button("Dismiss", "conflicts-dismiss", () => conflicts.dismissAll());
    report.replaceChildren(
      element("h2", {}, `${count} lost to someone else's`),
      element("ul", {}, ...list.map((conflict) => item(conflict, rowName, connection, conflicts))),
      close,
    );
  };
  conflicts.subscribe(render);
  connection.presence.subscribe(() => conflicts.conflicts.length && render());
  return conflicts;
}

function item(conflict, rowName, connection, conflicts) {
  const { key, column, mine, won, writer } = conflict;
  return element(
    "li",
    { "data-testid": "conflict" },
    element("strong", {}, `${column}, ${rowName(key)}`),
    element("span", {}, "yours: ", element("q", { "data-testid": "conflict-mine" }, shown(mine))),
    element("span", {}, "kept: ", element("q", { "data-testid": "conflict-won" }, shown(won)), ` by ${nameOf(connection.presence, writer)}`),
    button("Use mine", "use-mine", () => conflicts.useMine(conflict)),
  );
}

function shown(value) {
  return value === null ? "(empty)" : String(value);
}

function button(label, testid, onclick) {
  const node = element("button", { type: "button", "data-testid": testid }, label);
  node.addEventListener("click", onclick);
  return node;
}

function element(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}
