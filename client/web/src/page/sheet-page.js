// The default sheet page: a Tabulator grid.
import "tabulator-tables/dist/css/tabulator.min.css";
import * as tabulator from "tabulator-tables";
import "./page.css";
import "./edits.css";
import { bindTabulator } from "../tabulator/binding.js";
import { startPage } from "./start.js";

// The modules the grid uses rather than TabulatorFull's thirty-odd: the page's script is
// about half the size to download and compile before the sheet can even be requested.
// (esbuild keeps only the modules named here.)
tabulator.Tabulator.registerModule([
  tabulator.EditModule,
  tabulator.FilterModule,
  tabulator.FormatModule,
  tabulator.FrozenColumnsModule,
  tabulator.InteractionModule,
  tabulator.KeybindingsModule,
  tabulator.ResizeColumnsModule,
  tabulator.ResizeTableModule,
  tabulator.SelectRangeModule,
  tabulator.SelectRowModule,
  tabulator.SortModule,
]);
startPage((connection, element) => bindTabulator(connection, tabulator.Tabulator, element));
