// The home page: the sheets this tab may open, as `/api/sheets` lists them for its token (the
// same token the sheet pages use: given as `/#token=...`, kept for the tab), each with its
// table, rows, who is on it now and its state; refreshed while the page is shown.
import "./home.css";
import { pageToken } from "./token.js";

const REFRESH_MS = 5000;
const table = document.querySelector("[data-testid=sheet-table]");
const list = document.querySelector("[data-testid=sheets]");
const message = document.querySelector("[data-testid=sheets-message]");

function say(text) {
  message.textContent = text;
  message.hidden = false;
  table.hidden = true;
}

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

/** What the status column says: why the sheet cannot open, rows waiting, refusals, or ok. */
function status(sheet) {
  if (sheet.error) return element("span", { class: "cellsync-badge", "data-state": "error" }, sheet.error);
  const notes = [];
  if (sheet.pending_rows) {
    const seconds = Math.round(sheet.lag_seconds);
    notes.push(element("span", { class: "cellsync-badge", "data-state": "lag" }, `${plural(sheet.pending_rows, "row")} to write · ${seconds} s`));
  }
  if (sheet.refusals) notes.push(element("span", { class: "cellsync-badge", "data-state": "refused" }, `${plural(sheet.refusals, "refused cell")}`));
  if (!notes.length) notes.push(element("span", { class: "cellsync-badge", "data-state": "ok" }, sheet.loaded ? "Up to date" : "Closed"));
  return element("span", { class: "cellsync-badges" }, ...notes);
}

function plural(count, noun) {
  return `${count.toLocaleString()} ${noun}${count === 1 ? "" : "s"}`;
}

function row(sheet) {
  const link = element("a", { href: `/sheets/${encodeURIComponent(sheet.name)}` }, sheet.name);
  const people = sheet.people.length
    ? element("span", { class: "cellsync-names" }, ...sheet.people.map((name) => element("span", { class: "cellsync-name" }, name)))
    : element("span", { class: "cellsync-muted" }, "No one");
  const rows = sheet.rows === null ? "—" : sheet.rows.toLocaleString();
  return element(
    "tr",
    { "data-testid": "sheet-row", "data-sheet": sheet.name },
    element("th", { scope: "row" }, link),
    element("td", { class: "cellsync-table-name" }, sheet.table),
    element("td", { class: "cellsync-number", "data-testid": "sheet-rows" }, rows),
    element("td", { "data-testid": "sheet-people" }, people),
    element("td", { "data-testid": "sheet-status" }, status(sheet)),
  );
}

async function refresh(token) {
  const response = await fetch("/api/sheets", { headers: token ? { Authorization: `Bearer ${token}` } : {} });
  if (response.ok) {
    const { sheets } = await response.json();
    list.replaceChildren(...sheets.map(row));
    table.hidden = !sheets.length;
    message.hidden = Boolean(sheets.length);
    if (!sheets.length) say("No sheets are served here yet.");
    return true;
  }
  if (response.status === 401 || response.status === 403) {
    say("Open a sheet from the application that gave you the link: this server needs an access token.");
  } else {
    say(`The server could not list the sheets (${response.status}).`);
  }
  return false;
}

const token = pageToken();
if (await refresh(token)) {
  setInterval(() => {
    if (document.visibilityState === "visible") refresh(token).catch(() => {});
  }, REFRESH_MS);
}
