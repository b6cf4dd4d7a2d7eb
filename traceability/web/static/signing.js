// Signed requests from pages (docs/signed-writes.md): build the statement, canonicalize
// it (RFC 8785 for the log's value space), sign it with the key this browser holds for
// the user (made on the Account page, see keys.js), and send it.
"use strict";

function canonical(value) {
  if (value === null || typeof value === "boolean" || typeof value === "string") {
    return JSON.stringify(value);
  }
  if (typeof value === "number") {
    if (!Number.isInteger(value)) throw new Error("decimals go into the log as strings");
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return "[" + value.map(canonical).join(",") + "]";
  // Member names here are ASCII, where UTF-16 order (RFC 8785) is plain sort order.
  const keys = Object.keys(value).sort();
  return "{" + keys.map((k) => JSON.stringify(k) + ":" + canonical(value[k])).join(",") + "}";
}

function b64(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes)));
}

async function signAndSend(url, type, subject, what, { user, origin, csrf, autoKey }, extra = {}) {
  let held = await storedKey(user);
  if (!held && autoKey) {
    // First use on this device (a phone scanning a label): make and register a key now.
    held = await registerNewKey(user, origin, csrf, "phone key (made on first use)");
  }
  if (!held) {
    throw new Error("This browser holds no signing key for you: create one on the Account page.");
  }
  for (let attempt = 0; attempt < 2; attempt++) {
    const head = await (await fetch("/log/subject-head?subject=" + encodeURIComponent(subject)))
      .json();
    const statement = {
      v: 1, log: origin, subject, subject_seq: head.next_seq, subject_prev: head.prev,
      type, when: new Date().toISOString().replace(/\.\d+Z$/, "Z"), what, where: {}, why: {},
      key: held.keyId, actor: user,
    };
    const message = new TextEncoder().encode("trace-log-entry-v1\n" + canonical(statement));
    const signature = await crypto.subtle.sign({ name: "Ed25519" }, held.privateKey, message);
    const response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json", "x-csrf-token": csrf },
      body: JSON.stringify({ ...extra, statement, signature: b64(signature) }),
    });
    const body = await response.json();
    if (response.status === 409 && attempt === 0 && /moved on/.test(body.detail || "")) continue;
    return { ok: response.ok, status: response.status, body };
  }
}

// One signed request per click: a second click or tap while the first request is on its
// way is ignored and the buttons are disabled, so a double-tap never shows "not stored"
// after the first tap stored it. `scope` is the form (or the group of buttons).
async function oneAtATime(scope, send) {
  if (scope.dataset.sending === "yes") return;
  scope.dataset.sending = "yes";
  const buttons = scope.querySelectorAll("button");
  buttons.forEach((button) => { button.disabled = true; });
  try {
    await send();
  } finally {
    delete scope.dataset.sending;
    buttons.forEach((button) => { button.disabled = false; });
  }
}
