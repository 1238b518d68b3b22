// The +/- buttons work without JavaScript (they post and the page comes back adjusted);
// with JavaScript they change the number in place, and the closed-details show only when closed.
(function () {
  "use strict";
  var form = document.getElementById("beds-form");
  if (!form) return;
  form.addEventListener("click", function (e) {
    var button = e.target.closest("button.step");
    if (!button) return;
    e.preventDefault();
    var parts = button.value.split(":");
    var input = document.getElementById("kind-" + parts[0]);
    var max = parseInt(input.dataset.max, 10);
    var current = /^\d+$/.test(input.value.trim()) ? parseInt(input.value, 10) : 0;
    input.value = String(Math.min(max, Math.max(0, current + parseInt(parts[1], 10))));
  });
  var details = document.getElementById("closed-details");
  function showClosed() {
    var closed = form.querySelector("input[name=admissions][value=closed]");
    details.hidden = !(closed && closed.checked);
  }
  form.addEventListener("change", showClosed);
  showClosed();
  var summary = document.getElementById("error-summary");
  if (summary) summary.focus();
})();
