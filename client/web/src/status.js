// The connection state a user sees: "connected", "syncing", "offline", or "refused" (the
// server closed with a 44xx code: no valid token, or not for this sheet; y-websocket then stops
// reconnecting), and how many local edits the server has not had yet. The count survives a
// reload (localStorage), like the edits themselves (IndexedDB).

export class ConnectionStatus {
  constructor(sheet, provider, storageKey) {
    this.sheet = sheet;
    this.provider = provider;
    this.storageKey = storageKey;
    this.listeners = new Set();
    this.pending = Number(localStorage.getItem(storageKey)) || 0;
    /** `{code, reason}` of the server's refusal, or null. */
    this.refusal = null;
    this.onStatus = () => this.emit();
    this.onClosed = ({ code, reason }) => {
      this.refusal = { code, reason };
      this.emit();
    };
    this.onSync = (synced) => {
      if (synced) this.setPending(0);
      else this.emit();
    };
    this.onTransaction = (transaction) => {
      if (transaction.origin === sheet.origin && this.state !== "connected") {
        this.setPending(this.pending + 1);
      }
    };
    provider.on("status", this.onStatus);
    provider.on("sync", this.onSync);
    provider.on("closed", this.onClosed);
    sheet.doc.on("afterTransaction", this.onTransaction);
  }

  get state() {
    if (this.refusal) return "refused";
    if (!this.provider.wsconnected) return "offline";
    return this.provider.synced ? "connected" : "syncing";
  }

  /** `listener({state, pending, refusal})` on every change; called at once with the current state. */
  subscribe(listener) {
    this.listeners.add(listener);
    listener(this.snapshot());
    return () => this.listeners.delete(listener);
  }

  snapshot() {
    return { state: this.state, pending: this.pending, refusal: this.refusal };
  }

  setPending(count) {
    this.pending = count;
    if (count) localStorage.setItem(this.storageKey, String(count));
    else localStorage.removeItem(this.storageKey);
    this.emit();
  }

  emit() {
    const snapshot = this.snapshot();
    this.listeners.forEach((listener) => listener(snapshot));
  }

  destroy() {
    this.provider.off("status", this.onStatus);
    this.provider.off("sync", this.onSync);
    this.provider.off("closed", this.onClosed);
    this.sheet.doc.off("afterTransaction", this.onTransaction);
    this.listeners.clear();
  }
}
