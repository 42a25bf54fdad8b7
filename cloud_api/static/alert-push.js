// The office's "Alerts on this device": subscribe this browser to the alerts' Web Push, or stop.
// The same steps as the parent app's app.js (service worker, permission, VAPID key, subscribe, tell the
// cloud), with the office's own service worker at /office/ and the staff members' subscriptions.
"use strict";
(() => {
  const box = document.getElementById("alert-push");
  if (!box) return;
  const SCOPE = "/office/";
  const state = document.getElementById("alert-push-state");
  const start = box.querySelector("[data-alert-push=start]");
  const stop = box.querySelector("[data-alert-push=stop]");
  const b64ToBytes = (s) => Uint8Array.from(atob((s + "===".slice((s.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/")), c => c.charCodeAt(0));
  const done = (saved) => location.assign(`/office/account?saved=${saved}`);  // the list as the cloud has it

  async function refusal(r) {
    const body = await r.json().catch(() => null);
    return (body && body.detail && body.detail.message) || box.dataset.failed;
  }

  async function current() {
    const reg = await navigator.serviceWorker.getRegistration(SCOPE);
    return reg ? reg.pushManager.getSubscription() : null;
  }

  async function show() {
    const sub = await current();
    const listed = sub ? box.closest("section").querySelector(`li[data-endpoint="${CSS.escape(sub.endpoint)}"]`) : null;
    if (listed) listed.querySelector("[data-this-device]").hidden = false;
    start.hidden = Boolean(listed);
    stop.hidden = !listed;
    state.textContent = listed ? box.dataset.on : box.dataset.off;
  }

  async function subscribe() {
    const reg = await navigator.serviceWorker.register("/office/sw.js", {scope: SCOPE});
    if (await Notification.requestPermission() !== "granted") { state.textContent = box.dataset.denied; return; }
    const {public_key} = await fetch("/v1/push/vapid-public-key").then(r => r.json());
    const sub = await reg.pushManager.subscribe({userVisibleOnly: true, applicationServerKey: b64ToBytes(public_key)});
    // The cloud keeps the request's language as the alerts' language: the one chosen below.
    const r = await fetch("/v1/me/staff-push-subscriptions", {method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "Accept-Language": box.dataset.language},
      body: JSON.stringify(sub.toJSON())});
    if (r.ok) { done("alert_device_on"); return; }
    state.textContent = await refusal(r);
    await sub.unsubscribe().catch(() => {});
  }

  async function unsubscribe() {
    const sub = await current();
    if (sub) {
      const r = await fetch(`/v1/me/staff-push-subscriptions?endpoint=${encodeURIComponent(sub.endpoint)}`,
        {method: "DELETE", credentials: "same-origin"});
      if (!r.ok) { state.textContent = await refusal(r); return; }
      await sub.unsubscribe().catch(() => {});
    }
    done("alert_device_off");
  }

  if (!("serviceWorker" in navigator) || !("PushManager" in window)) {
    state.textContent = box.dataset.unsupported;
    return;
  }
  const failed = (err) => { state.textContent = `${box.dataset.failed} (${err})`; };
  start.addEventListener("click", () => subscribe().catch(failed));
  stop.addEventListener("click", () => unsubscribe().catch(failed));
  show().catch(failed);
})();
