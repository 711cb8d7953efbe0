// 离线外壳: the service worker of the pages. It keeps the app shell (index.html and the built,
// content-hashed files under /assets/) so the report page opens with no network. It never
// answers or stores anything else: no /api (personal data, tokens), no /ws, no photos, no tiles.
// index.html: network first, the cached copy when offline. /assets/*: cache first (their names
// change with their content). Each fresh index.html re-caches the files it names and drops the
// scripts and styles of older builds.

const CACHE = "sipingtai-shell-v1";
const SHELL = "/index.html";
const SHELL_PATHS = new Set(["/", "/index.html"]);

self.addEventListener("install", (event) => {
  event.waitUntil(
    fetch(SHELL, { cache: "no-cache" })
      .then((res) => keepShell(res))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      for (const key of await caches.keys()) if (key.startsWith("sipingtai-") && key !== CACHE) await caches.delete(key);
      await self.clients.claim();
    })(),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate" && SHELL_PATHS.has(url.pathname)) event.respondWith(page(event));
  else if (url.pathname.startsWith("/assets/")) event.respondWith(asset(request));
});

/** Store a good index.html and every asset it names; forget older builds' scripts and styles. */
async function keepShell(res) {
  if (!res.ok || !(res.headers.get("Content-Type") || "").includes("text/html")) return;
  const html = await res.clone().text();
  const assets = [...html.matchAll(/(?:src|href)="(\/assets\/[^"?#]+)"/g)].map((m) => m[1]);
  const cache = await caches.open(CACHE);
  for (const path of assets) if (!(await cache.match(path))) await cache.add(path);
  await cache.put(SHELL, res);
  for (const request of await cache.keys()) {
    const path = new URL(request.url).pathname;
    if (/\.(js|css)$/.test(path) && !assets.includes(path)) await cache.delete(request);
  }
}

async function page(event) {
  try {
    const res = await fetch(event.request);
    event.waitUntil(keepShell(res.clone()).catch(() => undefined));
    return res;
  } catch (err) {
    const cached = await caches.match(SHELL);
    if (cached) return cached;
    throw err;
  }
}

async function asset(request) {
  const cached = await caches.match(request);
  if (cached) return cached;
  const res = await fetch(request);
  if (res.ok) {
    const copy = res.clone();
    caches.open(CACHE).then((cache) => cache.put(request, copy)).catch(() => undefined);
  }
  return res;
}
