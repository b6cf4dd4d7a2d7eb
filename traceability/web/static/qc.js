// Result entry and review on the batch page: each is a statement signed in this browser.
"use strict";

function context() {
  const el = document.querySelector("[data-signing]");
  return { user: el.dataset.user, origin: el.dataset.origin, csrf: el.dataset.csrf,
           subject: el.dataset.subject, lot: el.dataset.lot };
}

function show(target, text, good) {
  target.textContent = text;
  target.className = good === undefined ? "" : (good ? "ok" : "error");
}

async function enterResult(form) {
  const ctx = context();
  const out = form.querySelector("[data-outcome]");
  const test = form.dataset.test;
  const values = {};
  form.querySelectorAll("[data-value]").forEach((input) => {
    values[input.dataset.value] = input.value.trim();
  });
  const get = (name) => (form.elements[name] ? form.elements[name].value.trim() : "");
  const what = {
    test, values, unit: form.dataset.unit || null, method: get("method"),
    instrument: get("instrument"),
    reagent_lots: get("reagent_lots").split(",").map((s) => s.trim()).filter(Boolean),
    analyst: get("analyst"),
    // The field is labelled UTC, as every time on these pages: read it as UTC, not as
    // the browser's local time.
    tested_at: (get("tested_at") ? new Date(`${get("tested_at")}Z`) : new Date())
      .toISOString().replace(/\.\d+Z$/, "Z"),
    assay_valid: !form.elements.assay_invalid.checked,
  };
  if (get("supersedes")) {
    what.supersedes = parseInt(get("supersedes"), 10);
    what.reason = get("reason");
  }
  show(out, "Signing and sending…");
  try {
    const r = await signAndSend(`/batches/${ctx.lot}/results`, "qc.result.entered",
                                ctx.subject, what, ctx);
    if (!r.ok) {
      show(out, `Not stored: ${r.body.detail}` + (r.body.field ? ` (${r.body.field})` : ""), false);
      return;
    }
    show(out, `Result ${r.body.id}: ${r.body.verdict.toUpperCase()}. ${r.body.reasons.join("; ")}`,
         r.body.verdict === "pass");
    out.dataset.verdict = r.body.verdict;
    setTimeout(() => location.reload(), 1500);
  } catch (error) {
    show(out, error.message, false);
  }
}

async function review(button) {
  const ctx = context();
  const out = button.closest("[data-review]").querySelector("[data-outcome]");
  const decision = button.dataset.decision;
  const comment = decision === "returned" ? prompt("Why is it sent back?") : null;
  if (decision === "returned" && !comment) return;
  const r = await signAndSend(`/batches/${ctx.lot}/reviews`, "qc.result.reviewed", ctx.subject,
                              { result: parseInt(button.dataset.result, 10), decision, comment },
                              ctx).catch((e) => ({ ok: false, body: { detail: e.message } }));
  if (!r.ok) {
    show(out, `Not stored: ${r.body.detail}`, false);
    return;
  }
  show(out, `Result ${r.body.result} ${r.body.decision}.`, true);
  out.dataset.reviewed = r.body.decision;
  setTimeout(() => location.reload(), 1000);
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("form[data-test]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      oneAtATime(form, () => enterResult(form));
    });
  });
  document.querySelectorAll("[data-review] button[data-decision]").forEach((button) => {
    button.addEventListener("click", (event) => {
      event.preventDefault();
      oneAtATime(button.closest("[data-review]"), () => review(button));
    });
  });
});
