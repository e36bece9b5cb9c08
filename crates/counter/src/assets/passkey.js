// Passkeys for the admin console (WebAuthn). The pages work without this
// script: TOTP and recovery codes need no JavaScript; passkeys do.
"use strict";
(function () {
  const b64 = (buf) => btoa(String.fromCharCode(...new Uint8Array(buf)))
    .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  const unb64 = (text) => {
    const s = text.replace(/-/g, "+").replace(/_/g, "/");
    const bin = atob(s + "===".slice((s.length + 3) % 4));
    return Uint8Array.from(bin, (c) => c.charCodeAt(0)).buffer;
  };
  const post = async (url, csrf, body) => {
    const response = await fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrf-token": csrf },
      body: JSON.stringify(body || {}),
    });
    if (!response.ok) throw new Error(String(response.status));
    return response.json();
  };
  const status = (text) => { const el = document.getElementById("passkey-status"); if (el) el.textContent = text; };
  if (!window.PublicKeyCredential) return;

  const register = document.getElementById("passkey-register");
  if (register) {
    register.hidden = false;
    register.addEventListener("click", async () => {
      const csrf = register.dataset.csrf;
      try {
        const start = await post("/admin/account/passkeys/start", csrf);
        const pk = start.options.publicKey;
        pk.challenge = unb64(pk.challenge);
        pk.user.id = unb64(pk.user.id);
        (pk.excludeCredentials || []).forEach((c) => { c.id = unb64(c.id); });
        const cred = await navigator.credentials.create({ publicKey: pk });
        const credential = {
          id: cred.id, rawId: b64(cred.rawId), type: cred.type, extensions: {},
          response: {
            attestationObject: b64(cred.response.attestationObject),
            clientDataJSON: b64(cred.response.clientDataJSON),
          },
        };
        const name = (document.getElementById("passkey-name") || {}).value || "";
        await post("/admin/account/passkeys/finish", csrf, { ceremony: start.ceremony, name, credential });
        status(register.dataset.done);
        window.location.reload();
      } catch (e) {
        status(register.dataset.failed);
      }
    });
  }

  const login = document.getElementById("passkey-login");
  if (login) {
    login.hidden = false;
    login.addEventListener("click", async () => {
      const csrf = login.dataset.csrf;
      try {
        const start = await post("/admin/login/passkey/start", csrf);
        const pk = start.options.publicKey;
        pk.challenge = unb64(pk.challenge);
        (pk.allowCredentials || []).forEach((c) => { c.id = unb64(c.id); });
        const cred = await navigator.credentials.get({ publicKey: pk });
        const credential = {
          id: cred.id, rawId: b64(cred.rawId), type: cred.type, extensions: {},
          response: {
            authenticatorData: b64(cred.response.authenticatorData),
            clientDataJSON: b64(cred.response.clientDataJSON),
            signature: b64(cred.response.signature),
            userHandle: cred.response.userHandle ? b64(cred.response.userHandle) : null,
          },
        };
        const done = await post("/admin/login/passkey/finish", csrf, { ceremony: start.ceremony, credential });
        window.location.assign(done.redirect || "/admin");
      } catch (e) {
        status(login.dataset.failed);
      }
    });
  }
})();
