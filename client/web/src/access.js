// What an access token says about the user, read in the browser for display only: the server
// verifies the token, this never does. Claims (persistence/tokens.py): `sub`, `name`, `sheets`
// (sheet-name pattern -> "read" | "write", fnmatch patterns), `exp`.

/** The token's claims, or null when it is not a readable JWT. */
export function tokenClaims(token) {
  try {
    const payload = token.split(".")[1].replaceAll("-", "+").replaceAll("_", "/");
    const bytes = Uint8Array.from(atob(payload.padEnd(Math.ceil(payload.length / 4) * 4, "=")), (c) => c.charCodeAt(0));
    const claims = JSON.parse(new TextDecoder().decode(bytes));
    return claims && typeof claims === "object" ? claims : null;
  } catch {
    return null;
  }
}

/** Who the token names and what it lets them do on `sheet`:
 * `{user: {id, name}, right: "write" | "read" | null}` (null: the token does not cover it). */
export function tokenAccess(token, sheet) {
  const claims = tokenClaims(token) ?? {};
  const rights = new Set(
    Object.entries(claims.sheets ?? {})
      .filter(([pattern]) => fnmatch(sheet, pattern))
      .map(([, right]) => right),
  );
  const right = rights.has("write") ? "write" : rights.has("read") ? "read" : null;
  const id = String(claims.sub ?? "");
  return { user: { id, name: String(claims.name || id) }, right };
}

/** Python's fnmatch.fnmatchcase: `*` any text, `?` one character, `[seq]` / `[!seq]` one
 * character in or not in seq; anything else matches itself. */
export function fnmatch(name, pattern) {
  let source = "";
  for (let i = 0; i < pattern.length; i += 1) {
    const c = pattern[i];
    if (c === "*") source += ".*";
    else if (c === "?") source += ".";
    else if (c === "[" && classEnd(pattern, i) > 0) {
      const end = classEnd(pattern, i);
      let set = pattern.slice(i + 1, end).replace(/[\\\]]/g, "\\$&");
      if (set[0] === "!") set = `^${set.slice(1)}`;
      else if (set[0] === "^") set = `\\${set}`;
      source += `[${set}]`;
      i = end;
    } else source += c.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  }
  try {
    return new RegExp(`^(?:${source})$`, "su").test(name);
  } catch {
    return false; // a class Python accepts but JavaScript does not (a reversed range)
  }
}

/** Where the character class opened at `start` closes, as fnmatch reads it; -1: it does not
 * (the "[" is then an ordinary character). */
function classEnd(pattern, start) {
  let i = start + 1;
  if (pattern[i] === "!") i += 1;
  if (pattern[i] === "]") i += 1;
  return pattern.indexOf("]", i);
}
