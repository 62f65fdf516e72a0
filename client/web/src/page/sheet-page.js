// The default sheet page: a Tabulator grid.
import "tabulator-tables/dist/css/tabulator.min.css";
import { TabulatorFull } from "tabulator-tables";
import "./page.css";
import { bindTabulator } from "../tabulator/binding.js";
import { SelectRange } from "../tabulator/select-range.js";
import { startPage } from "./start.js";

TabulatorFull.registerModule(SelectRange);
startPage((connection, element) => bindTabulator(connection, TabulatorFull, element));
