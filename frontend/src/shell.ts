// The app shell offline: register the service worker (public/sw.js), which caches index.html and
// the built assets only, never an API answer.

/** Register the service worker of the built pages (not under `npm run dev`). */
export function registerShellWorker(): void {
  if (!import.meta.env.PROD || !("serviceWorker" in navigator)) return;
  navigator.serviceWorker.register("/sw.js", { scope: "/" }).catch((err) => console.warn("离线缓存不可用", err));
}
