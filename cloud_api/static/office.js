// The office's small improvements; every page works without them.
"use strict";
// "Print the roll call": a button only where a script can press print (otherwise the browser's menu does).
for (const button of document.querySelectorAll("[data-print]")) {
  button.hidden = false;
  button.addEventListener("click", () => window.print());
}
// After a failed form, the error summary takes the focus, so that a screen reader starts there.
const summary = document.getElementById("error-summary");
if (summary) {
  summary.tabIndex = -1;
  summary.focus();
}
// A page that keeps itself current (Today) reloads every data-refresh seconds while it is in view and
// nobody is typing; without a script the browser's reload does the same.
const refreshing = document.querySelector("[data-refresh]");
if (refreshing) {
  const every = Number(refreshing.dataset.refresh) * 1000;
  setInterval(() => {
    const typing = document.activeElement && ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName);
    if (document.visibilityState === "visible" && !typing) location.reload();
  }, every);
}
// The canteen's dish photo: a preview of the chosen file with the square that will be kept (the crop
// itself is done by the server, with or without this preview).
for (const input of document.querySelectorAll("input[data-preview]")) {
  const box = document.getElementById(input.dataset.preview);
  const crop = document.querySelector(`select[data-crop="${input.dataset.preview}"]`);
  if (!box) continue;
  const image = box.querySelector("img");
  const place = () => {
    const where = crop ? crop.value : "center";
    box.classList.toggle("whole", where === "whole");
    image.style.objectPosition = { top: "center top", bottom: "center bottom", left: "left center", right: "right center" }[where] || "center";
  };
  input.addEventListener("change", () => {
    const file = input.files && input.files[0];
    if (!file) { box.hidden = true; return; }
    const reader = new FileReader();
    reader.onload = () => { image.src = reader.result; box.hidden = false; place(); };
    reader.readAsDataURL(file);  // a data: address: the page's policy allows no blob: images
  });
  if (crop) crop.addEventListener("change", place);
}
