// Who is on the sheet and which cells each of them has selected, over Yjs awareness. The local
// user's name comes from the access token (the server overwrites `user` with the token's id and
// name, whatever a client claims), or without a token is picked and remembered in this browser.
// Each user's colour differs from everyone else's as long as there are colours to go round
// (twelve, each readable under white text): a user who finds an earlier-numbered client with
// the same colour takes the first free one.

const NAME_KEY = "cellsync:user-name";
export const COLOURS = [
  "#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#e6550d", "#0f8b8d",
  "#8c564b", "#c2185b", "#393b79", "#808000", "#636363", "#a67c00",
];

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
    this.onChange = () => this.keepColourDistinct();
    awareness.on("change", this.onChange);
  }

  /** Takes the first colour nobody else has when an earlier-numbered client has this one. */
  keepColourDistinct() {
    const me = this.awareness.clientID;
    const user = this.awareness.getLocalState()?.user ?? {};
    const used = new Set();
    let clash = false;
    this.awareness.getStates().forEach((state, id) => {
      const colour = state.user?.colour;
      if (id === me || typeof colour !== "string") return;
      used.add(colour);
      if (colour === user.colour && id < me) clash = true;
    });
    const free = COLOURS.find((colour) => !used.has(colour));
    if (clash && free) this.awareness.setLocalStateField("user", { ...user, colour: free });
  }

  setName(name) {
    const user = this.awareness.getLocalState()?.user ?? {};
    this.awareness.setLocalStateField("user", { ...user, name });
  }

  /** Shows the others which cell is selected here (null: none), and the range it is part of:
   * `end`, the range's opposite corner ({row, column}; the cell itself by default). */
  setCursor(row, column, end = { row, column }) {
    const cursor = row === null || row === undefined ? null : { row, column };
    const selection = cursor && { start: cursor, end };
    const state = this.awareness.getLocalState() ?? {};
    if (sameCell(state.cursor, cursor) && sameCell(state.selection?.end, selection?.end)) return;
    this.awareness.setLocalState({ ...state, cursor, selection });
  }

  /** Everyone here but this tab: [{id, name, colour, cursor, selection}]. */
  others() {
    const people = [];
    this.awareness.getStates().forEach((state, id) => {
      if (id === this.awareness.clientID || !state.user) return;
      const name = typeof state.user.name === "string" && state.user.name ? state.user.name : "anonymous";
      const colour = checkedColour(state.user.colour, id);
      people.push({ id, name, colour, cursor: state.cursor ?? null, selection: state.selection ?? null });
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

function sameCell(a, b) {
  return (a ?? null) === (b ?? null) || (a?.row === b?.row && a?.column === b?.column);
}
