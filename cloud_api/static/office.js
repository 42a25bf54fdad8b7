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
