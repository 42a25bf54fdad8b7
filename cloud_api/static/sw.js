// The service worker of the parent app (at /app/) and of the office (at /office/, a staff member's alerts):
// shows each Web Push notice, opens the page it links to (else the app or the office) when it is tapped.
self.addEventListener("install", () => self.skipWaiting());
self.addEventListener("activate", (event) => event.waitUntil(self.clients.claim()));

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
