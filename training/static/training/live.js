/* Running jobs refresh themselves: every element marked data-r4h-live="KEY" is replaced, every few seconds,
   by the element of the same key on a fresh copy of the page, while any of them says data-r4h-running.
   When none runs any more the page reloads once (to show the results), unless the reader has ticked rows
   of a list, which a reload would lose. Plain fetch of the same page: no endpoint, no library. */
(function () {
  "use strict";
  var PERIOD_MS = 3000;

  function running(root) {
    return root.querySelector("[data-r4h-running]") !== null;
  }

  function ticked() {
    return document.querySelector("input.action-select:checked, #action-toggle:checked") !== null;
  }

  function swap(fresh) {
    document.querySelectorAll("[data-r4h-live]").forEach(function (element) {
      var key = element.getAttribute("data-r4h-live");
      var replacement = fresh.querySelector('[data-r4h-live="' + CSS.escape(key) + '"]');
      if (replacement) {
        element.replaceWith(document.importNode(replacement, true));
      }
    });
  }

  function poll() {
    fetch(window.location.href, { credentials: "same-origin", headers: { "X-Requested-With": "r4h-live" } })
      .then(function (response) {
        if (!response.ok) {
          throw new Error(response.status);
        }
        return response.text();
      })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html");
        if (running(fresh)) {
          swap(fresh);
          window.setTimeout(poll, PERIOD_MS);
        } else if (ticked()) {
          swap(fresh);
        } else {
          window.location.reload();
        }
      })
      .catch(function () {
        window.setTimeout(poll, PERIOD_MS * 5); // the server restarting, say: try again, less often
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (running(document)) {
      window.setTimeout(poll, PERIOD_MS);
    }
  });
})();
