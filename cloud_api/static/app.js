// The parent app's only script: register the service worker (it keeps the last pages for when the phone
// has no connection), throw those pages away on the sign-in page, and subscribe this device to Web Push.
"use strict";
const b64ToBytes = (s) => Uint8Array.from(atob((s + "===".slice((s.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/")), c => c.charCodeAt(0));

async function registration() {
  if (!("serviceWorker" in navigator)) return null;
  return navigator.serviceWorker.register("/app/sw.js", {scope: "/app/"});
}

async function subscribe(button, state) {
  const reg = await registration();
  if (!reg || !("PushManager" in window)) { state.textContent = button.dataset.denied; return; }
  if (await Notification.requestPermission() !== "granted") { state.textContent = button.dataset.denied; return; }
  const {public_key} = await fetch("/v1/push/vapid-public-key").then(r => r.json());
  const sub = await reg.pushManager.subscribe({userVisibleOnly: true, applicationServerKey: b64ToBytes(public_key)});
  const r = await fetch("/v1/me/push-subscriptions", {method: "POST", credentials: "same-origin",
    headers: {"Content-Type": "application/json", "Accept-Language": document.documentElement.lang},
    body: JSON.stringify(sub.toJSON())});
  if (r.ok) { state.textContent = button.dataset.done; return; }
  // Refused (ten devices already, a push service not accepted): say why, in the page's language.
  const refusal = await r.json().catch(() => null);
  await sub.unsubscribe().catch(() => {});
  state.textContent = (refusal && refusal.detail && refusal.detail.message) || `${r.status}`;
}

registration().catch(() => {});  // an old browser: the pages work without it
// On a sign-in page nobody is signed in: the pages kept for offline use (sw.js, "mektep-pages-…") go.
if (document.querySelector("[data-forget-pages]") && "caches" in window) {
  caches.keys().then((names) => names.filter((n) => n.startsWith("mektep-pages")).forEach((n) => caches.delete(n)))
    .catch(() => {});
}
const button = document.getElementById("subscribe");
if (button) {
  const state = document.getElementById("push-state");
  button.addEventListener("click", () => subscribe(button, state).catch((err) => { state.textContent = String(err); }));
}
