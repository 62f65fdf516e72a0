// The page's access token: handed over in the URL fragment (/sheets/NAME#token=...), which
// never reaches a server or a log; taken out of the address bar at once and kept in this tab's
// sessionStorage, so a reload of the tab still has it.
const TOKEN_KEY = "cellsync:token";

/** The token given to this tab, or null. */
export function pageToken(location = window.location) {
  const given = new URLSearchParams(location.hash.slice(1)).get("token");
  if (given) {
    sessionStorage.setItem(TOKEN_KEY, given);
    history.replaceState(history.state, "", location.pathname + location.search);
  }
  return given || sessionStorage.getItem(TOKEN_KEY);
}
