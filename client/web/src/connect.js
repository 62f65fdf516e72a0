// Connecting a sheet: its Yjs document, kept in IndexedDB for offline work and synced with the
// Cellsync server over WebSocket (y-websocket protocol at /ws/sheet/NAME).
import { IndexeddbPersistence } from "y-indexeddb";
import { WebsocketProvider } from "y-websocket";
import * as Y from "yjs";
import { tokenAccess } from "./access.js";
import { ChangeFeed } from "./changes.js";
import { Presence, rememberedName } from "./presence.js";
import { storeRemoteUpdatesAsReceived } from "./remote-updates.js";
import { Sheet } from "./sheet.js";
import { ConnectionStatus } from "./status.js";

// The server only answers; a sync request every 10 s keeps a lone tab's socket from looking
// dead to y-websocket, which reconnects after 30 s without a message.
const RESYNC_MS = 10_000;

/** The WebSocket base URL for sheets on the server that served this page. */
export function defaultServer(location = window.location) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws/sheet`;
}

/**
 * Opens a sheet and keeps it in sync. Options: `server` (WebSocket base URL, default: this
 * page's server), `token` (the access token the host application minted; its user's name is
 * shown to the others, and a token that may only read makes the sheet read-only), `userName`
 * (without a token: shown to the others; default: the name remembered here), `offline` (keep
 * a copy in IndexedDB, default true).
 * Resolves once the local copy is loaded (not waiting for the network).
 */
export async function connectSheet(name, { server = defaultServer(), token = null, userName = rememberedName(), offline = true } = {}) {
  const access = token ? tokenAccess(token, name) : null;
  const doc = new Y.Doc();
  const sheet = new Sheet(doc, { writable: !access || access.right === "write" });
  const storage = offline ? new IndexeddbPersistence(`cellsync:${server}/${name}`, doc) : null;
  if (storage) await loadStored(storage, doc);
  const provider = new WebsocketProvider(server, encodeURIComponent(name), doc, {
    resyncInterval: RESYNC_MS,
    connect: navigator.onLine,
    params: token ? { token } : {},
  });
  storeRemoteUpdatesAsReceived(provider, storage);
  const user = access?.user ?? { id: "", name: userName };
  return new SheetConnection(sheet, provider, storage, user, `cellsync:pending:${server}/${name}`);
}

/** Waits for `storage` (an IndexeddbPersistence) to load the stored sheet into `doc`. Its own
 * "update" listener, which ignores what it loads, is detached meanwhile: with a listener, yjs
 * encodes the loaded sheet again (~0.5 s of a reload of a 100,000-row sheet). */
async function loadStored(storage, doc) {
  doc.off("update", storage._storeUpdate);
  try {
    await storage.whenSynced;
  } finally {
    doc.on("update", storage._storeUpdate);
  }
}

export class SheetConnection {
  /** `user`: {id, name}; the id is the token's subject ("" without a token). */
  constructor(sheet, provider, storage, user, pendingKey) {
    this.user = user;
    this.sheet = sheet;
    this.provider = provider;
    this.storage = storage;
    this.changes = new ChangeFeed(sheet);
    this.status = new ConnectionStatus(sheet, provider, pendingKey);
    this.presence = new Presence(provider.awareness, user.name);
    // A new tab's document holds nothing until its first sync, which a server sends a big
    // sheet's rows in chunks of (see `arriving`).
    this.firstSync = sheet.columns().length === 0;
    provider.on("sync", (synced) => {
      if (synced) this.firstSync = false;
    });
    // A socket can take minutes to notice that the network is gone: trust the browser. A
    // refused connection stays closed.
    this.onOffline = () => provider.disconnect();
    this.onOnline = () => {
      if (!this.status.refusal) provider.connect();
    };
    window.addEventListener("offline", this.onOffline);
    window.addEventListener("online", this.onOnline);
  }

  /** Whether the rows of a new tab's first sync are still arriving from the server. */
  get arriving() {
    return this.firstSync && this.provider.wsconnected;
  }

  /** Resolves when the document has synced with the server. */
  whenSynced() {
    if (this.provider.synced) return Promise.resolve();
    return new Promise((resolve) => {
      const onSync = (synced) => {
        if (!synced) return;
        this.provider.off("sync", onSync);
        resolve();
      };
      this.provider.on("sync", onSync);
    });
  }

  destroy() {
    window.removeEventListener("offline", this.onOffline);
    window.removeEventListener("online", this.onOnline);
    this.changes.destroy();
    this.status.destroy();
    this.provider.destroy();
    this.storage?.destroy();
    this.sheet.destroy();
    this.sheet.doc.destroy();
  }
}
