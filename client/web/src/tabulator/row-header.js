// The grid's first column: a narrow handle that selects whole rows (drag or click) and opens a
// row's expanded view (its ⤢ button). It shows no row number: the sheet's primary key is a
// column of its own, and a second number beside it only confused.

const EXPAND = '<span class="cellsync-expand" title="Expand row (Shift+Space)" aria-label="Expand row">⤢</span>';

export const ROW_HEADER = {
  resizable: false,
  frozen: true,
  width: 30,
  minWidth: 30,
  hozAlign: "center",
  headerSort: false,
  formatter: () => EXPAND,
  cellClick: (event, cell) => {
    if (!event.target.closest(".cellsync-expand")) return;
    const key = cell.getRow().getElement().dataset.key;
    event.target.dispatchEvent(new CustomEvent("cellsync:expand-row", { bubbles: true, detail: { key } }));
  },
};
