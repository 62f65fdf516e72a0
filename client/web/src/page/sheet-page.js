// The default sheet page: a Tabulator grid.
import "tabulator-tables/dist/css/tabulator.min.css";
import { TabulatorFull } from "tabulator-tables";
import "./page.css";
import { bindTabulator } from "../tabulator/binding.js";
import { startPage } from "./start.js";

startPage((connection, element) => bindTabulator(connection, TabulatorFull, element));
