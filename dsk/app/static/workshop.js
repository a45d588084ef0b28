// Workshop pages follow the trainer without a reload: Server-Sent Events where they
// work, otherwise polling the JSON state. When the state's version changes, the page's
// live part is fetched again and swapped in. A phone that wakes up gets the current
// state at once (the stream sends it on connect; polling asks for it).
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live) { return; }
  var version = Number(live.getAttribute("data-version"));
  var stateUrl = live.getAttribute("data-state");
  var eventsUrl = live.getAttribute("data-events");
  var busy = false;

  function swap() {
    if (busy) { return; }
    busy = true;
    fetch(window.location.pathname, {credentials: "same-origin"})
      .then(function (r) { return r.text(); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("live");
        if (fresh) {
          live.innerHTML = fresh.innerHTML;
          version = Number(fresh.getAttribute("data-version"));
          live.setAttribute("data-version", String(version));
        }
      })
      .catch(function () {})
      .then(function () { busy = false; });
  }

  function apply(state) {
    if (typeof state.voted === "number") {
      var n = document.getElementById("voted-n");
      if (n) { n.textContent = String(state.voted); }
    }
    if (state.version !== version) { swap(); }
  }

  function poll() {
    fetch(stateUrl, {credentials: "same-origin"})
      .then(function (r) { return r.json(); })
      .then(apply)
      .catch(function () {});
  }

  if (eventsUrl && window.EventSource) {
    var source = new EventSource(eventsUrl);
    source.addEventListener("state", function (e) { apply(JSON.parse(e.data)); });
    window.setInterval(function () {
      if (source.readyState === 2) { poll(); }
    }, 3000);
    document.addEventListener("visibilitychange", function () {
      if (!document.hidden) { poll(); }
    });
  } else {
    window.setInterval(poll, eventsUrl ? 2000 : 1000);
  }
})();
