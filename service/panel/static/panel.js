// Lethe panel: the only script. Served from /panel/static (the CSP allows no inline script).
// 1. Refresh an element from a URL every few seconds (data-poll-url, data-poll-seconds).
// 2. Buttons with data-print open the print dialog.
"use strict";
(function () {
  function poll(element) {
    var url = element.getAttribute("data-poll-url");
    var seconds = Number(element.getAttribute("data-poll-seconds")) || 5;
    var busy = false;
    var last = null;  // the last fragment received: the board is only replaced when it changed
    window.setInterval(function () {
      if (busy || document.hidden) { return; }
      busy = true;
      fetch(url, { credentials: "same-origin", headers: { "Accept": "text/html", "X-Lethe-Poll": "1" }, redirect: "manual" })
        .then(function (response) {
          if (response.type === "opaqueredirect" || response.status === 401) {
            window.location.reload();  // the session ended: show the sign-in page
            return null;
          }
          return response.ok ? response.text() : null;
        })
        .then(function (html) {
          if (html !== null && html !== undefined && html !== last) {
            element.innerHTML = html;
            last = html;
          }
        })
        .catch(function () { /* offline for a moment: try again next time */ })
        .finally(function () { busy = false; });
    }, seconds * 1000);
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-poll-url]").forEach(poll);
    document.querySelectorAll("[data-print]").forEach(function (button) {
      button.addEventListener("click", function () { window.print(); });
    });
  });
})();
