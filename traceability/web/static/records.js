// Signed forms on record and vial pages (deviations, OOS conclusions, specification
// versions, labels, custody steps). A form marked data-signed names its endpoint
// (data-url) and statement type (data-type); each named field becomes a member of the
// statement's `what`: data-int fields as integers, data-bool checkboxes as true or
// false, data-list fields split at commas or spaces, data-json fields parsed as JSON,
// data-optional fields left out when empty, data-serials fields as that many serial
// numbers, data-each checkboxes as the list of the checked ones' values, data-nullable
// fields as null when empty; a data-nonce form gets a fresh random nonce, a data-subject-template form a
// subject made from its fields. The statement is signed in this browser with the user's own key (signing.js)
// and posted; the page reloads to show the stored record, or says why nothing was
// stored.
"use strict";

function signedContext(form) {
  const el = form.closest("[data-signing]");
  return { user: el.dataset.user, origin: el.dataset.origin, csrf: el.dataset.csrf,
           subject: subjectOf(form) || el.dataset.subject,
           autoKey: el.dataset.autoKey !== undefined };
}

// The statement's subject: the form's data-subject, or its data-subject-template with
// each {name} filled in from the form's data-name attribute (the resolver), else from
// the field of that name, else from data-name of a selected option (a product's GTIN):
// a registration's subject is the identifier being registered (/01/{gtin}/10/{lot}).
function subjectOf(form) {
  const template = form.dataset.subjectTemplate;
  if (!template) return form.dataset.subject;
  return template.replace(/\{(\w+)\}/g, (_, name) => {
    if (form.dataset[name] !== undefined) return form.dataset[name];
    const field = form.elements[name];
    if (field && !(field instanceof RadioNodeList) && field.tagName !== "SELECT") {
      return encodeURIComponent(fieldValue(field));
    }
    for (const select of form.querySelectorAll("select")) {
      const option = select.selectedOptions[0];
      if (option && option.dataset[name] !== undefined) return option.dataset[name];
    }
    return encodeURIComponent(field ? field.value.trim() : "");
  });
}

// A field's value as signed: data-pad="14" pads digits to that width with zeros (a GTIN
// of 8, 12 or 13 digits is written as GTIN-14 in identifiers).
function fieldValue(input) {
  const value = input.value.trim();
  const width = parseInt(input.dataset.pad || "0", 10);
  return width && /^[0-9]+$/.test(value) ? value.padStart(width, "0") : value;
}

// data-serials: a number of vials, signed as that many serial numbers 0001, 0002, ...
function serials(count) {
  const n = parseInt(count, 10);
  if (!Number.isInteger(n) || n < 1) throw new Error("the number of vials is a whole number, 1 or more");
  const width = Math.max(4, String(n).length);
  return Array.from({ length: n }, (_, i) => String(i + 1).padStart(width, "0"));
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
    if (input.dataset.each !== undefined) {
      what[input.name] = what[input.name] || [];
      if (input.checked) what[input.name].push(input.value);
      continue;
    }
    const value = input.value.trim();
    if (input.dataset.optional !== undefined && !value) continue;
    if (input.dataset.nullable !== undefined && !value) {
      what[input.name] = null;  // said empty on purpose: no such limit
      continue;
    }
    if (input.dataset.bool !== undefined) what[input.name] = input.checked;
    else if (input.dataset.int !== undefined) what[input.name] = parseInt(value, 10);
    else if (input.dataset.serials !== undefined) what[input.name] = serials(value);
    else if (input.dataset.list !== undefined) {
      what[input.name] = value.split(/[\s,]+/).filter(Boolean);
    }
    else if (input.dataset.json !== undefined) what[input.name] = JSON.parse(value);
    else what[input.name] = fieldValue(input);
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

// <input data-follows="product:version">: takes data-version of the option chosen in the
// form's "product" select whenever it changes (a product's current specification version).
function wireFollowers(form) {
  for (const input of form.querySelectorAll("[data-follows]")) {
    const [leaderName, key] = input.dataset.follows.split(":");
    const leader = form.elements[leaderName];
    leader.addEventListener("change", () => {
      const value = leader.selectedOptions[0]?.dataset[key];
      if (value !== undefined) input.value = value;
    });
  }
}

// A form marked data-post is not signed: its fields (typed as above) are posted as JSON
// to data-url with the session's CSRF token, and the page goes to data-go, each {name}
// filled in from the answer (a new shipper's page, /00/{sscc}).
async function sendPlain(form) {
  const out = form.querySelector("[data-outcome]");
  out.className = "";
  out.textContent = "Sending…";
  try {
    const response = await fetch(form.dataset.url, {
      method: "POST",
      headers: { "content-type": "application/json", "x-csrf-token": form.dataset.csrf },
      body: JSON.stringify(whatOf(form)),
    });
    const body = await response.json();
    if (!response.ok) {
      out.className = "error";
      out.textContent = `Not stored: ${body.detail}` + (body.field ? ` (${body.field})` : "");
      return;
    }
    out.className = "ok";
    out.textContent = "Stored.";
    location.assign(form.dataset.go.replace(/\{(\w+)\}/g, (_, name) => encodeURIComponent(body[name])));
  } catch (error) {
    out.className = "error";
    out.textContent = error.message;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("form[data-post]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      oneAtATime(form, () => sendPlain(form));
    });
    form.dataset.ready = "yes";
  });
  document.querySelectorAll("form[data-signed]").forEach((form) => {
    wireDependentSelects(form);
    wireFollowers(form);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      oneAtATime(form, () => sendSigned(form));
    });
    form.dataset.ready = "yes";  // signing is wired up: a submit now signs, never reloads
  });
});
