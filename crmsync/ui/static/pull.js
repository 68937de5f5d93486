// "Pull now" progress: poll the status endpoint while the run is going, then reload the page
// (which shows the result, the latest pull and any quarantine). Text only: never innerHTML.
(function () {
  "use strict";
  var panel = document.getElementById("pull-status");
  if (!panel || panel.dataset.status !== "running") {
    return;
  }
  var state = document.getElementById("pull-state");
  var steps = document.getElementById("pull-steps");

  function show(run) {
    state.textContent = "Running, started " + run.started_at + "\u2026";
    while (steps.firstChild) {
      steps.removeChild(steps.firstChild);
    }
    run.steps.forEach(function (s) {
      var li = document.createElement("li");
      li.textContent = s.step + ": " + s.records + " records";
      steps.appendChild(li);
    });
  }

  function poll() {
    fetch(panel.dataset.url, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (run) {
        if (run.status === "running") {
          show(run);
          window.setTimeout(poll, 1000);
        } else {
          if (window.location.search) {
            window.location.replace(window.location.pathname + "#pull"); // drop "?saved=pull"
          } else {
            window.location.reload();
          }
        }
      })
      .catch(function () { window.setTimeout(poll, 2000); });
  }

  window.setTimeout(poll, 500);
})();
