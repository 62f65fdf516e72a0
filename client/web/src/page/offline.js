// Lets the page itself load while offline: a service worker answers from its cache when the
// network fails, and this page puts itself and its bundle in that cache on every load.
const CACHE = "cellsync-pages-v1";

export async function keepPageOffline(workerUrl) {
  if (!("serviceWorker" in navigator) || !window.caches) return;
  await navigator.serviceWorker.register(workerUrl, { scope: "/" });
  const assets = [...document.querySelectorAll("script[src], link[rel=stylesheet]")].map(
    (node) => node.src || node.href,
  );
  const cache = await caches.open(CACHE);
  await cache.addAll([window.location.href, ...assets]);
}
