// The Handsontable example page (/sheets/NAME?grid=handsontable&license=KEY). Handsontable is
// proprietary: the licence key is yours to supply, in the URL once (it is remembered here).
import "handsontable/styles/handsontable.min.css";
import "handsontable/styles/ht-theme-main.min.css";
import Handsontable from "handsontable";
import "./page.css";
import "./edits.css";
import { bindHandsontable } from "../handsontable.js";
import { startPage } from "./start.js";

const LICENSE_KEY = "cellsync:handsontable-license";

function licenseKey() {
  const given = new URLSearchParams(window.location.search).get("license");
  if (given) localStorage.setItem(LICENSE_KEY, given);
  return given ?? localStorage.getItem(LICENSE_KEY) ?? "";
}

startPage((connection, element) =>
  bindHandsontable(connection, Handsontable, element, { licenseKey: licenseKey(), themeName: "ht-theme-main" }),
);
