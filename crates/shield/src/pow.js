// Proof of work for under-attack mode: find a counter whose SHA-256 with the
// challenge starts with enough zero bits, then send the form. Without this
// script the page still works: wait, then press the button.
"use strict";
(function () {
  const form = document.getElementById("pow-form");
  const status = document.getElementById("pow-status");
  if (!form || !window.crypto || !window.crypto.subtle) return;
  const difficulty = Number(form.dataset.difficulty || "0");
  const challenge = form.elements["challenge"].value;
  const zeroBits = (bytes) => {
    let bits = 0;
    for (const b of bytes) {
      if (b === 0) { bits += 8; continue; }
      bits += Math.clz32(b) - 24;
      break;
    }
    return bits;
  };
  const encoder = new TextEncoder();
  (async () => {
    for (let counter = 0; counter < 1e9; counter++) {
      const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(challenge + ":" + counter)));
      if (zeroBits(hash) >= difficulty) {
        form.elements["counter"].value = String(counter);
        form.submit();
        return;
      }
      if (counter % 5000 === 0 && status) status.textContent = status.textContent.replace(/…*$/, "") + "…";
    }
  })();
})();
