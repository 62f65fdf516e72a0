// Who is on the sheet and which cell each of them has selected, over Yjs awareness. The local
// user's name comes from the access token (the server overwrites `user` with the token's id and
// name, whatever a client claims), or without a token is picked and remembered in this browser.

const NAME_KEY = "cellsync:user-name";
const COLOURS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#008080", "#f032e6", "#9a6324"];

export function rememberedName() {
  return localStorage.getItem(NAME_KEY) ?? "";
}

export function rememberName(name) {
  localStorage.setItem(NAME_KEY, name);
}

export function colourFor(clientId) {
  return COLOURS[clientId % COLOURS.length];
}

/** `colour` when it is a `#rrggbb` colour, else the client's own: whatever another client
 * sent goes into CSS only once it is known to be a colour. */
export function checkedColour(colour, clientId) {
  return typeof colour === "string" && /^#[0-9a-f]{6}$/i.test(colour) ? colour : colourFor(clientId);
}

export class Presence {
  constructor(awareness, name) {
    this.awareness = awareness;
    awareness.setLocalStateField("user", { name, colour: colourFor(awareness.clientID) });
  }

  setName(name) {
    const user = this.awareness.getLocalState()?.user ?? {};
    this.awareness.setLocalStateField("user", { ...user, name });
  }

  /** Shows the others which cell is selected here (null: none). */
  setCursor(row, column) {
    const cursor = row === null || row === undefined ? null : { row, column };
    const current = this.awareness.getLocalState()?.cursor ?? null;
    if (current?.row === cursor?.row && current?.column === cursor?.column) return;
    this.awareness.setLocalStateField("cursor", cursor);
  }

  /** Everyone here but this tab: [{id, name, colour, cursor}]. */
  others() {
    const people = [];
    this.awareness.getStates().forEach((state, id) => {
      if (id === this.awareness.clientID || !state.user) return;
      const name = typeof state.user.name === "string" && state.user.name ? state.user.name : "anonymous";
      people.push({ id, name, colour: checkedColour(state.user.colour, id), cursor: state.cursor ?? null });
    });
    return people;
  }

  /** `listener(others)` whenever someone joins, leaves, renames or moves; returns unsubscribe. */
  subscribe(listener) {
    const onChange = () => listener(this.others());
    this.awareness.on("change", onChange);
    onChange();
    return () => this.awareness.off("change", onChange);
  }
}
