// Tabulator column definitions from the document's `meta.columns`: typed editors, and no editor
// for the primary key, read-only columns, or any column of a read-only sheet. Editors take any
// text: the sheet refuses what a column cannot take, and the grid shows why.

const NUMERIC = new Set(["integer", "number", "decimal"]);

/** The definitions for the columns of `sheet` (a Sheet). */
export function columnDefinitions(sheet) {
  return sheet.columns().map((column) => {
    const definition = {
      title: column.name,
      field: column.name,
      headerSort: false,
      ...display(column),
    };
    if (!sheet.canEdit(column)) return { ...definition, cssClass: "cellsync-readonly" };
    return { ...definition, ...editor(column) };
  });
}

function display(column) {
  if (column.type === "boolean") {
    return { formatter: "tickCross", formatterParams: { allowEmpty: true }, hozAlign: "center" };
  }
  return NUMERIC.has(column.type) ? { hozAlign: "right" } : {};
}

function editor(column) {
  if (column.choices) {
    const values = column.nullable ? ["", ...column.choices] : column.choices;
    return { editor: "list", editorParams: { values, autocomplete: true, listOnEmpty: true } };
  }
  switch (column.type) {
    case "integer":
    case "number":
    case "decimal":
      return { editor: "input", editorParams: { selectContents: true, elementAttributes: { inputmode: "decimal" } } };
    case "boolean":
      return { editor: "tickCross", editorParams: { tristate: column.nullable } };
    case "date":
      return { editor: "date" };
    case "datetime":
      return { editor: "datetime" };
    default:
      return { editor: "input", editorParams: { selectContents: true } };
  }
}
