// The home page: the sheets this tab may open, as `/api/sheets` lists them for its token (the
// same token the sheet pages use: given as `/#token=...`, kept for the tab).
import { pageToken } from "./token.js";

const list = document.querySelector("[data-testid=sheets]");
const message = document.querySelector("[data-testid=sheets-message]");

function say(text) {
  message.textContent = text;
  message.hidden = false;
}

function link(name) {
  const anchor = document.createElement("a");
  anchor.href = `/sheets/${encodeURIComponent(name)}`;
  anchor.textContent = name;
  const item = document.createElement("li");
  item.append(anchor);
  return item;
}

const token = pageToken();
const response = await fetch("/api/sheets", { headers: token ? { Authorization: `Bearer ${token}` } : {} });
if (response.ok) {
  const { sheets } = await response.json();
  list.replaceChildren(...sheets.map((sheet) => link(sheet.name)));
  if (!sheets.length) say("No sheets are served here yet.");
} else if (response.status === 401 || response.status === 403) {
  say("Open a sheet from the application that gave you the link: this server needs an access token.");
} else {
  say(`The server could not list the sheets (${response.status}).`);
}
