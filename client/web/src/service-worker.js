// Network first, the cache when the network fails: pages and bundles keep loading offline, and
// the latest version is used whenever the server can be reached. The API's answers (rows,
// sent as no-store) are never kept.
const CACHE = "cellsync-pages-v1";

self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin || /^\/(ws|api)\//.test(url.pathname)) return;
  event.respondWith(fromNetworkOrCache(event.request));
});

async function fromNetworkOrCache(request) {
  const cache = await caches.open(CACHE);
  try {
    const response = await fetch(request);
    if (response.ok) await cache.put(request, response.clone());
    return response;
  } catch (error) {
    const cached = await cache.match(request);
    if (cached) return cached;
    throw error;
  }
}
