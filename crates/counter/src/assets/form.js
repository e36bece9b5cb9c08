// Progressive enhancement only: every page works without this file.
// Hides conditional questions until they apply, moves focus to the error
// summary when the page comes back with errors, and fills the region of an
// address from its postal code.
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
  // Address help: a complete postal code in an address's NAME.postal
  // fills NAME.region (都道府県＋市区町村) from /postal/{code} when it is
  // empty (or always, when 住所を検索 is pressed), and says so in the
  // field's polite live region. Without this file the button posts the
  // form and the counter fills the region in.
  function postalKey(value) {
    var v = value.normalize ? value.normalize("NFKC") : value;
    v = v.replace(/[\s〒\-‐‑‒–—―−ー－]/g, "");
    return /^[0-9]{7}$/.test(v) ? v : null;
  }
  function lookUp(form, name, force) {
    var postal = form.querySelector('[name="' + name + '.postal"]');
    var region = form.querySelector('[name="' + name + '.region"]');
    var status = document.getElementById("lookup-f-" + name.replace(/\./g, "-"));
    if (!postal || !region || !status || !window.fetch) return false;
    var key = postalKey(postal.value);
    if (!key) return false;
    if (!force && postal.getAttribute("data-looked-up") === key) return true;
    postal.setAttribute("data-looked-up", key);
    var shown = key.slice(0, 3) + "-" + key.slice(3);
    fetch("/postal/" + key, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (found) {
        if (!found) {
          status.className = "lookup-result error-message";
          status.textContent = status.getAttribute("data-unknown").replace("{code}", shown);
          return;
        }
        if (!force && region.value.trim() !== "") return;
        region.value = found.region;
        status.className = "lookup-result";
        status.textContent = status.getAttribute("data-found").replace("{code}", shown).replace("{region}", found.region);
      })
      .catch(function () { postal.removeAttribute("data-looked-up"); });
    return true;
  }
  function addressHelp(form) {
    form.addEventListener("input", function (e) {
      var name = e.target.name || "";
      if (name.slice(-7) === ".postal") lookUp(form, name.slice(0, -7), false);
    });
    var buttons = form.querySelectorAll("[data-lookup-for]");
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].addEventListener("click", function (e) {
        // A code we can look up here needs no round trip; anything else
        // goes to the counter, which explains what is wrong.
        if (lookUp(form, e.currentTarget.getAttribute("data-lookup-for"), true)) e.preventDefault();
      });
    }
  }
  document.addEventListener("DOMContentLoaded", function () {
    var forms = document.querySelectorAll("form");
    for (var j = 0; j < forms.length; j++) {
      if (forms[j].querySelector("[data-lookup-for]")) addressHelp(forms[j]);
    }
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
