/* dsk scoring app: enhancements that the pages work without.
 * - moves focus to the error summary of a refused form;
 * - keeps what is typed in a case as a draft on the server as one types (POST /s/draft),
 *   so a reload or another device finds it again;
 * - filters the list of factors and counts the ones ticked.
 */
(function () {
  "use strict";
  var summary = document.getElementById("errors");
  if (summary) { summary.focus(); }

  var form = document.getElementById("scoring");
  if (!form) { return; }
  var status = document.getElementById("draft-status");
  var timer = null, sending = false, again = false, stopped = false;

  function say(text) { if (status) { status.textContent = text; } }

  function send(keepalive) {
    if (stopped) { return; }
    if (sending) { again = true; return; }
    sending = true;
    var body = new URLSearchParams(new FormData(form));
    fetch("/s/draft", {method: "POST", body: body, credentials: "same-origin",
                       keepalive: !!keepalive})
      .then(function (r) {
        if (r.status === 204) { say("Draft saved (not yet an answer)."); return null; }
        return r.text().then(function (text) {
          if (r.status === 409) { stopped = true; say(text); }
          else { say("Your draft could not be saved just now; your answer is still sent when you press Save."); }
        });
      })
      .catch(function () { say("Not saved as a draft yet: no connection. Keep this page open."); })
      .then(function () {
        sending = false;
        if (again) { again = false; send(false); }
      });
  }

  function later() {
    if (timer) { clearTimeout(timer); }
    timer = setTimeout(function () { timer = null; send(false); }, 800);
  }

  form.addEventListener("input", later);
  form.addEventListener("change", later);
  form.addEventListener("submit", function () {
    stopped = true;
    if (timer) { clearTimeout(timer); timer = null; }
  });
  window.addEventListener("pagehide", function () {
    if (timer) { clearTimeout(timer); timer = null; send(true); }
  });

  // factors: a filter box and a count of those ticked
  var list = document.getElementById("factor-list");
  var count = document.getElementById("factor-count");
  var most = list ? parseInt(list.getAttribute("data-max"), 10) : 0;
  function recount() {
    if (!list || !count) { return; }
    var n = list.querySelectorAll("input[type=checkbox]:checked").length;
    count.textContent = n + " chosen" + (n > most ? ": choose at most " + most : "");
    count.className = n > most ? "count over" : "count";
  }
  if (list) { list.addEventListener("change", recount); recount(); }

  var filter = document.getElementById("factor-filter");
  if (filter && list) {
    filter.parentNode.hidden = false;
    var filterStatus = document.getElementById("factor-filter-status");
    filter.addEventListener("input", function () {
      var words = filter.value.trim().toLowerCase();
      var shown = 0;
      var groups = list.querySelectorAll("fieldset.domain");
      for (var g = 0; g < groups.length; g++) {
        var labels = groups[g].querySelectorAll("label.check");
        var inGroup = 0;
        for (var i = 0; i < labels.length; i++) {
          var match = !words || labels[i].textContent.toLowerCase().indexOf(words) !== -1;
          labels[i].hidden = !match;
          if (match) { inGroup++; }
        }
        groups[g].hidden = inGroup === 0;
        shown += inGroup;
      }
      if (filterStatus) { filterStatus.textContent = shown + " factor" + (shown === 1 ? "" : "s") + " shown"; }
    });
    filter.addEventListener("keydown", function (event) {
      if (event.key === "Enter") { event.preventDefault(); }  // never sends the form
    });
  }
}());
