// Live parts of a page: an element with an id and data-refresh="<ms>" is fetched again from
// the same URL after that delay and replaced by its new version; the new version carries on
// while it still has data-refresh (a job page stops once the job has ended). Swapping one
// element, not reloading the page, keeps the scroll position and the flash messages.
(function () {
  "use strict";
  var MAX_DELAY = 30000;

  function follow(id, delay) {
    window.setTimeout(function () {
      fetch(window.location.href, {credentials: "same-origin", cache: "no-store"})
        .then(function (response) {
          if (!response.ok) { throw new Error("HTTP " + response.status); }
          return response.text();
        })
        .then(function (text) {
          var fresh = new DOMParser().parseFromString(text, "text/html").getElementById(id);
          var current = document.getElementById(id);
          if (!fresh || !current) { return; }  // e.g. logged out: the login page came back
          current.replaceWith(document.importNode(fresh, true));
          if (fresh.dataset.refresh) { follow(id, Number(fresh.dataset.refresh)); }
        })
        .catch(function () {
          follow(id, Math.min(delay * 2, MAX_DELAY));  // the server is away: ask less often
        });
    }, delay);
  }

  document.querySelectorAll("[data-refresh][id]").forEach(function (element) {
    follow(element.id, Number(element.dataset.refresh) || 1000);
  });
}());
