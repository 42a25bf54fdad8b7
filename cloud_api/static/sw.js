// The service worker of the parent app (at /app/) and of the office (at /office/, a staff member's alerts):
// shows each Web Push notice, opens the page it links to (else the app or the office) when it is tapped.
//
// In the parent app it also keeps the last copy of the pages a parent looks at on the way to school
// (the day at /app/, each child's page and month, the menu): network first, and the kept copy when the
// phone has no connection, its hidden "offline, as of HH:MM" banner shown (the server wrote the time
// into the page when it made it). Nothing else is kept: not the sign-in pages, not a form's answer, not
// the settings. Signing out (or landing on a sign-in page for any reason) throws the copies away, so a
// phone passed to someone else shows them nothing.
"use strict";
const PAGES = "mektep-pages-v1"; // the parent's pages: thrown away at sign-out
const FILES = "mektep-files-v1"; // the app's style, script and icon: nobody's data
const FILE_PATHS = ["/app/static/app.css", "/app/static/app.js", "/app/static/icon.svg"];
const IN_APP = new URL(self.registration.scope).pathname === "/app/";
// A page's address keeps only these (a month, a day): "?saved=…" answers a form and is not kept.
const KEPT_QUERY = new Set(["month", "day"]);

self.addEventListener("install", (event) => {
  self.skipWaiting();
  if (IN_APP) event.waitUntil(caches.open(FILES).then((c) => c.addAll(FILE_PATHS)).catch(() => {}));
});
self.addEventListener("activate", (event) => event.waitUntil((async () => {
  const current = [PAGES, FILES];
  for (const name of await caches.keys()) if (name.startsWith("mektep-") && !current.includes(name)) await caches.delete(name);
  await self.clients.claim();
})()));

function keptPage(url) {
  const path = url.pathname;
  const page = path === "/app/" || path === "/app/menu" || /^\/app\/children\/[0-9a-f-]{36}$/.test(path);
  return page && [...url.searchParams.keys()].every((k) => KEPT_QUERY.has(k));
}

const forget = () => caches.delete(PAGES);

// The kept copy as the page to show, its offline banner made visible (the one change to the server's HTML).
async function asKept(kept) {
  const html = (await kept.text()).replace(/ data-offline hidden/, " data-offline");
  const headers = new Headers(kept.headers);
  headers.delete("content-length");
  return new Response(html, {status: 200, headers});
}

async function networkFirst(request) {
  try {
    const answer = await fetch(request);
    // Only the page itself: a redirect (to the sign-in form when the session is over) is not kept.
    if (answer.ok && answer.type === "basic" && !answer.redirected) {
      const copy = answer.clone();
      await caches.open(PAGES).then((c) => c.put(request.url, copy));
    }
    return answer;
  } catch (err) {
    const kept = await caches.open(PAGES).then((c) => c.match(request.url, {ignoreVary: true}));
    if (kept) return asKept(kept);
    throw err; // never seen here: the browser's own "no connection" page
  }
}

async function fileFirstFromNetwork(request) {
  try {
    const answer = await fetch(request);
    if (answer.ok) {
      const copy = answer.clone();
      await caches.open(FILES).then((c) => c.put(request.url, copy));
    }
    return answer;
  } catch (err) {
    const kept = await caches.match(request.url, {cacheName: FILES});
    if (kept) return kept;
    throw err;
  }
}

self.addEventListener("fetch", (event) => {
  if (!IN_APP) return;
  const request = event.request;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin || !url.pathname.startsWith("/app/")) return;
  if (url.pathname === "/app/sign-out" || url.pathname.startsWith("/app/sign-in")) {
    // The network answers as ever; the kept pages go now. (The sign-in page's script throws them away
    // too, for a page loaded past this worker by a hard reload.)
    event.waitUntil(forget());
    return;
  }
  if (request.method !== "GET") return;
  if (request.mode === "navigate" && keptPage(url)) event.respondWith(networkFirst(request));
  else if (FILE_PATHS.includes(url.pathname)) event.respondWith(fileFirstFromNetwork(request));
});

self.addEventListener("push", (event) => {
  let notice = {title: "Mektep Gate", body: ""};
  try { notice = event.data ? event.data.json() : notice; } catch (err) { notice.body = event.data.text(); }
  event.waitUntil(self.registration.showNotification(notice.title, {
    body: notice.body,
    tag: notice.tag,            // a newer notice of the same child and kind replaces the older
    renotify: Boolean(notice.tag),
    icon: "/app/static/icon.svg",
    data: {url: notice.url || self.registration.scope, event_id: notice.event_id, late: notice.late},
  }));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  event.waitUntil(self.clients.openWindow(event.notification.data.url || self.registration.scope));
});
