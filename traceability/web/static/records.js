// Signed forms on record and vial pages (deviations, OOS conclusions, specification
// versions, labels, custody steps). A form marked data-signed names its endpoint
// (data-url) and statement type (data-type); each named field becomes a member of the
// statement's `what`: data-int fields as integers, data-bool checkboxes as true or
// false, data-list fields split at commas or spaces, data-json fields parsed as JSON,
// data-optional fields left out when empty; a data-nonce form gets a fresh random
// nonce. The statement is signed in this browser with the user's own key (signing.js)
// and posted; the page reloads to show the stored record, or says why nothing was
// stored.
"use strict";

function signedContext(form) {
  const el = form.closest("[data-signing]");
  return { user: el.dataset.user, origin: el.dataset.origin, csrf: el.dataset.csrf,
           subject: form.dataset.subject || el.dataset.subject,
           autoKey: el.dataset.autoKey !== undefined };
}

function nonce() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes)).replace(/\+/g, "-").replace(/\//g, "_")
    .replace(/=+$/, "");
}

// Fields marked data-outside="a.b" go into the request body beside the statement, not
// into what is signed: an e-signature's password, for example.
function outsideOf(form) {
  const extra = {};
  for (const input of form.querySelectorAll("[data-outside]")) {
    if (input.dataset.optional !== undefined && !input.value) continue;
    const path = input.dataset.outside.split(".");
    let target = extra;
    for (const part of path.slice(0, -1)) target = target[part] = target[part] || {};
    target[path[path.length - 1]] = input.value;
  }
  return extra;
}

function whatOf(form) {
  const what = {};
  if (form.dataset.nonce !== undefined) what.nonce = nonce();
  for (const input of form.querySelectorAll("[name]")) {
    if (input.dataset.outside !== undefined) continue;
    const value = input.value.trim();
    if (input.dataset.optional !== undefined && !value) continue;
    if (input.dataset.bool !== undefined) what[input.name] = input.checked;
    else if (input.dataset.int !== undefined) what[input.name] = parseInt(value, 10);
    else if (input.dataset.list !== undefined) {
      what[input.name] = value.split(/[\s,]+/).filter(Boolean);
    }
    else if (input.dataset.json !== undefined) what[input.name] = JSON.parse(value);
    else what[input.name] = value;
  }
  return what;
}

async function sendSigned(form) {
  const out = form.querySelector("[data-outcome]");
  out.className = "";
  out.textContent = "Signing and sending…";
  try {
    const ctx = signedContext(form);
    const r = await signAndSend(form.dataset.url, form.dataset.type, ctx.subject, whatOf(form),
                                ctx, outsideOf(form));
    if (!r.ok) {
      out.className = "error";
      out.textContent = `Not stored: ${r.body.detail}` + (r.body.field ? ` (${r.body.field})` : "");
      return;
    }
    out.className = "ok";
    out.textContent = "Signed and stored.";
    out.dataset.stored = "yes";
    setTimeout(() => location.reload(), 1000);
  } catch (error) {
    out.className = "error";
    out.textContent = error instanceof SyntaxError ? `Not valid JSON: ${error.message}`
                                                   : error.message;
  }
}

// <select data-depends-on="decision">: only the options whose data-for is the value of
// the form's "decision" field stay selectable (the meanings a decision allows).
function wireDependentSelects(form) {
  for (const select of form.querySelectorAll("select[data-depends-on]")) {
    const leader = form.elements[select.dataset.dependsOn];
    const sync = () => {
      let first = null;
      for (const option of select.options) {
        option.hidden = option.disabled = option.dataset.for !== leader.value;
        if (!option.disabled && first === null) first = option;
      }
      if (select.selectedOptions[0]?.disabled && first) first.selected = true;
    };
    leader.addEventListener("change", sync);
    sync();
  }
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("form[data-signed]").forEach((form) => {
    wireDependentSelects(form);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      oneAtATime(form, () => sendSigned(form));
    });
    form.dataset.ready = "yes";  // signing is wired up: a submit now signs, never reloads
  });
});
