// Progressive enhancement only: every page works without this file.
// Hides conditional questions until they apply, and moves focus to the
// error summary when the page comes back with errors.
(function () {
  "use strict";
  function valuesOf(form, name) {
    var out = [];
    var inputs = form.querySelectorAll('[name="' + name + '"]');
    for (var i = 0; i < inputs.length; i++) {
      var el = inputs[i];
      if ((el.type === "radio" || el.type === "checkbox") && !el.checked) continue;
      out.push(el.value);
    }
    return out;
  }
  function update(form) {
    var blocks = form.querySelectorAll("[data-show-field]");
    for (var i = 0; i < blocks.length; i++) {
      var b = blocks[i];
      var shown = valuesOf(form, b.getAttribute("data-show-field")).indexOf(b.getAttribute("data-show-value")) >= 0;
      b.hidden = !shown;
      var cond = b.querySelector(".condition");
      if (cond) cond.hidden = true;
    }
  }
  document.addEventListener("DOMContentLoaded", function () {
    var forms = document.querySelectorAll("form");
    for (var i = 0; i < forms.length; i++) {
      (function (form) {
        if (!form.querySelector("[data-show-field]")) return;
        update(form);
        form.addEventListener("change", function () { update(form); });
      })(forms[i]);
    }
    var summary = document.getElementById("error-summary");
    if (summary) summary.focus();
  });
})();
