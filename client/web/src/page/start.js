// Starts a sheet page: reads which sheet (and the access token) from the page, connects, binds
// the grid, draws the page around it. `window.cellsync` exposes the connection and the grid to
// scripts and tests.
import { connectSheet } from "../connect.js";
import { IncompleteRows } from "../incomplete-rows.js";
import { rememberName, rememberedName } from "../presence.js";
import { renderChrome } from "./chrome.js";
import { showConflictReport } from "./conflict-report.js";
import { followHistory } from "./history.js";
import { keepPageOffline } from "./offline.js";
import { followPanel } from "./panel.js";
import { followRowViews } from "./row-view.js";
import { pageToken } from "./token.js";
import { renderViewControls } from "./view-controls.js";

/** `bindGrid(connection, element)` returns a grid binding (addRow, deleteSelectedRows, ready). */
export async function startPage(bindGrid) {
  const root = document.querySelector("[data-cellsync-sheet]");
  const name = root.dataset.cellsyncSheet;
  const token = pageToken();
  let userName = rememberedName();
  if (!token && !userName) {
    userName = `guest-${Math.floor(Math.random() * 9000 + 1000)}`;
    rememberName(userName);
  }
  const connection = await connectSheet(name, { token, userName });
  const conflicts = showConflictReport(root, connection);
  new IncompleteRows(connection);
  const grid = bindGrid(connection, root.querySelector("[data-slot=grid]"));
  // Caching the page starts a service worker and fetches the page again: not before the
  // grid is on screen.
  grid.ready
    .then(() => new Promise((painted) => requestAnimationFrame(() => setTimeout(painted))))
    .then(() => keepPageOffline(root.dataset.serviceWorker))
    .catch((error) => console.warn("offline page cache:", error));
  renderChrome(root, connection, grid);
  renderViewControls(root, grid);
  followHistory(root, connection.sheet);
  followPanel(root);
  followRowViews(root, connection, grid);
  // Escape in the grid hands the focus to the toolbar.
  root.addEventListener("cellsync:leave-grid", (event) => {
    const first = root.querySelector(".cellsync-toolbar :is(button:not([disabled]), input, a[href])");
    if (!first) return;
    first.focus();
    event.preventDefault();
  });
  window.cellsync = { connection, grid, conflicts };
  return window.cellsync;
}
