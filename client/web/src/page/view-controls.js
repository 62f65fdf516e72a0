// The bar above the grid for this user's own view (tabulator/view.js): search, the filters
// under the headers, back to every row in the document's order, the selected row's expanded
// view, and how many rows are shown.

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

/** Fills the `view` slot of `root` once `grid` (a Tabulator binding) is built. */
export function renderViewControls(root, grid) {
  const slot = root.querySelector("[data-slot=view]");
  if (typeof grid.expandActiveRow !== "function") return slot.remove(); // not a Tabulator grid
  const search = element("input", { type: "search", "data-testid": "search", placeholder: "Search", "aria-label": "Search this sheet" });
  const filters = element("button", { type: "button", "data-testid": "toggle-filters", "aria-pressed": "false" }, "Filter");
  const reset = element("button", { type: "button", "data-testid": "reset-view", hidden: "" }, "Show all");
  const expand = element("button", { type: "button", "data-testid": "expand-row", title: "Shift+Space" }, "Expand row");
  const count = element("span", { class: "cellsync-count", "data-testid": "row-count", role: "status" });
  const bar = element("div", { class: "cellsync-viewbar", role: "toolbar", "aria-label": "View" }, search, filters, reset, expand, count);
  slot.replaceWith(bar);

  grid.ready.then(() => {
    const { view } = grid;
    search.addEventListener("input", () => view.setSearch(search.value));
    filters.addEventListener("click", () => {
      const shown = filters.getAttribute("aria-pressed") !== "true";
      filters.setAttribute("aria-pressed", String(shown));
      view.showFilters(shown);
    });
    reset.addEventListener("click", () => {
      search.value = "";
      view.reset();
    });
    expand.addEventListener("click", () => grid.expandActiveRow());
    view.subscribe(({ shown, total, filtered, sorted }) => {
      const rows = `${total.toLocaleString()} row${total === 1 ? "" : "s"}`;
      count.textContent = filtered ? `${shown.toLocaleString()} of ${rows}` : rows;
      count.dataset.shown = String(shown);
      count.dataset.total = String(total);
      reset.hidden = !(filtered || sorted);
    });
  });
}
