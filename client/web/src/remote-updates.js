// Updates from the server, applied without yjs encoding them again. yjs encodes every
// transaction for the document's "update" listeners; of ours, only IndexedDB wants remote
// updates (y-websocket skips its own origin), and encoding a sheet's first sync again cost
// ~175 ms of a 10,000-row first render. IndexedDB stores the bytes as received instead.
import * as decoding from "lib0/decoding";
import { messageYjsSyncStep2, messageYjsUpdate } from "y-protocols/sync";
import { messageSync } from "y-websocket";

/** Makes `provider` (a WebsocketProvider) apply updates this way; `storage`: its
 * IndexeddbPersistence, or null. */
export function storeRemoteUpdatesAsReceived(provider, storage) {
  const { doc } = provider;
  const listeners = [provider._updateHandler, storage?._storeUpdate].filter(Boolean);
  const readSync = provider.messageHandlers[messageSync];
  provider.messageHandlers[messageSync] = (encoder, decoder, ...rest) => {
    const peek = decoding.clone(decoder);
    const type = decoding.readVarUint(peek);
    if (type !== messageYjsSyncStep2 && type !== messageYjsUpdate) {
      readSync(encoder, decoder, ...rest);
      return;
    }
    const update = decoding.readVarUint8Array(peek);
    let detached = true;
    const reattach = () => {
      if (detached) listeners.forEach((listener) => doc.on("update", listener));
      detached = false;
    };
    // A transaction of another origin started by an observer of this one must reach the
    // server and IndexedDB as usual.
    const onTransaction = (transaction) => transaction.origin !== provider && reattach();
    listeners.forEach((listener) => doc.off("update", listener));
    doc.on("beforeTransaction", onTransaction);
    try {
      readSync(encoder, decoder, ...rest);
    } finally {
      doc.off("beforeTransaction", onTransaction);
      reattach();
    }
    storage?._storeUpdate(update, provider);
  };
}
