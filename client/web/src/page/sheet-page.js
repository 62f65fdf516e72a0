// The default sheet page: a Tabulator grid.
import "tabulator-tables/dist/css/tabulator.min.css";
import {
  EditModule,
  FormatModule,
  FrozenColumnsModule,
  InteractionModule,
  KeybindingsModule,
  ResizeColumnsModule,
  ResizeTableModule,
  SelectRowModule,
  SortModule,
  Tabulator,
} from "tabulator-tables";
import "./page.css";
import { bindTabulator } from "../tabulator/binding.js";
import { SelectRange } from "../tabulator/select-range.js";
import { startPage } from "./start.js";

// The modules the grid uses rather than TabulatorFull's thirty-odd: the page's script is
// about half the size to download and compile before the sheet can even be requested.
Tabulator.registerModule([
  EditModule,
  FormatModule,
  FrozenColumnsModule,
  InteractionModule,
  KeybindingsModule,
  ResizeColumnsModule,
  ResizeTableModule,
  SelectRowModule,
  SortModule,
  SelectRange,
]);
startPage((connection, element) => bindTabulator(connection, Tabulator, element));
