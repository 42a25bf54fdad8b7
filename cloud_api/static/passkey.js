// Passkeys (WebAuthn) on the sign-in and account pages: the only thing there that needs a script.
// A button with data-passkey="sign-in" or "register" asks its options from data-options, runs the
// browser's ceremony and posts the result to data-finish; what went wrong is said in data-failed.
"use strict";

async function postJSON(url, body) {
  const r = await fetch(url, {method: "POST", credentials: "same-origin",
    headers: {"Content-Type": "application/json"}, body: JSON.stringify(body || {})});
  if (!r.ok) throw new Error(String(r.status));
  return r.json();
}

async function ceremony(button) {
  const options = await postJSON(button.dataset.options);
  let credential;
  if (button.dataset.passkey === "register") {
    credential = await navigator.credentials.create({publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options)});
  } else {
    credential = await navigator.credentials.get({publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options)});
  }
  const name = document.getElementById("passkey-name");
  const done = await postJSON(button.dataset.finish, {credential: credential.toJSON(), name: name ? name.value : ""});
  window.location.assign(done.next);
}

const supported = window.PublicKeyCredential && PublicKeyCredential.parseRequestOptionsFromJSON;
for (const button of document.querySelectorAll("[data-passkey]")) {
  if (!supported) continue;  // an older browser: the password and the app's code still work
  button.hidden = false;
  const state = document.getElementById(button.dataset.state);
  button.addEventListener("click", () => ceremony(button).catch(() => { state.textContent = button.dataset.failed; }));
}
