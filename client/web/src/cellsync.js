// Cellsync's browser library: open a sheet, read and write its rows, bind it to a grid.
//
//   import { connectSheet, bindTabulator } from "/static/cellsync.js";
//   import { TabulatorFull } from "tabulator-tables";
//   const connection = await connectSheet("orders", { token });
//   bindTabulator(connection, TabulatorFull, document.querySelector("#grid"));
//
// client/web/README.md has the whole example (Tabulator's CSS, a parent that sizes the grid).
export { fnmatch, tokenAccess, tokenClaims } from "./access.js";
export { ChangeFeed } from "./changes.js";
export { connectSheet, defaultServer, SheetConnection } from "./connect.js";
export { bindHandsontable } from "./handsontable.js";
export { SCHEMA_VERSION, newRowKey, refusalKey } from "./layout.js";
export { rememberName, rememberedName } from "./presence.js";
export { Refusals } from "./refusals.js";
export { Sheet } from "./sheet.js";
export { bindTabulator } from "./tabulator/binding.js";
export { InvalidValue, toCell, whyInvalid } from "./values.js";
