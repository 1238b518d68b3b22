// The +/- buttons work without JavaScript (they post and the page comes back adjusted);
// with JavaScript they change the number in place, and the closed-details show only when closed.
// "No change — confirm" is offered only while the form shows what is recorded: once anything
// differs it gives way to "Not saved yet — press Save" (the server refuses such a confirm anyway).
(function () {
  "use strict";
  var form = document.getElementById("beds-form");
  if (!form) return;
  var confirmBlock = document.getElementById("confirm-block");
  var unsaved = document.getElementById("unsaved");
  var details = document.getElementById("closed-details");

  function closed() {
    var radio = form.querySelector("input[name=admissions][value=closed]");
    return !!(radio && radio.checked);
  }
  function differs() {
    var checked = form.querySelector("input[name=admissions]:checked");
    var admissions = form.querySelector("fieldset[data-recorded]");
    if (!checked || checked.value !== admissions.dataset.recorded) return true;
    return Array.prototype.some.call(form.querySelectorAll("input[data-recorded], textarea[data-recorded]"), function (el) {
      if (!closed() && details.contains(el)) return false;  // ignored while open, as the server ignores them
      return el.value.trim() !== el.dataset.recorded.trim();
    });
  }
  function update() {
    details.hidden = !closed();
    var changed = differs();
    if (confirmBlock) confirmBlock.hidden = changed;
    unsaved.hidden = !changed;
  }

  form.addEventListener("click", function (e) {
    var button = e.target.closest("button.step");
    if (!button) return;
    e.preventDefault();
    var parts = button.value.split(":");
    var input = document.getElementById("kind-" + parts[0]);
    var max = parseInt(input.dataset.max, 10);
    var current = /^\d+$/.test(input.value.trim()) ? parseInt(input.value, 10) : 0;
    input.value = String(Math.min(max, Math.max(0, current + parseInt(parts[1], 10))));
    update();
  });
  form.addEventListener("input", update);
  form.addEventListener("change", update);
  update();
  var summary = document.getElementById("error-summary");
  if (summary) summary.focus();
})();
