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

// One review, signed: the result, the decision, and for a result sent back the reason
// written beside it (never a pop-up: it stays on the page, in the record).
async function sendReview(ctx, result, decision, comment) {
  return signAndSend(`/batches/${ctx.lot}/reviews`, "qc.result.reviewed", ctx.subject,
                     { result, decision, comment }, ctx)
    .catch((e) => ({ ok: false, body: { detail: e.message } }));
}

async function review(button) {
  const ctx = context();
  const cell = button.closest("[data-review]");
  const out = cell.querySelector("[data-outcome]");
  const decision = button.dataset.decision;
  const reason = cell.querySelector("[data-comment]");
  const comment = decision === "returned" ? reason.value.trim() : null;
  if (decision === "returned" && !comment) {
    show(out, "Write why it is sent back first.", false);
    reason.focus();
    return;
  }
  const r = await sendReview(ctx, parseInt(button.dataset.result, 10), decision, comment);
  if (!r.ok) {
    show(out, `Not stored: ${r.body.detail}`, false);
    return;
  }
  show(out, `Result ${r.body.result} ${r.body.decision}.`, true);
  out.dataset.reviewed = r.body.decision;
  setTimeout(() => location.reload(), 1000);
}

// Approve every picked result: one signed review each, in turn; stops at the first
// refusal and says which, keeping those already stored.
async function approvePicked(bar) {
  const ctx = context();
  const out = bar.querySelector("[data-outcome]");
  const picked = [...document.querySelectorAll("[data-pick]:checked")].map((b) => parseInt(b.value, 10));
  if (!picked.length) {
    show(out, "Pick the results to approve first.", false);
    return;
  }
  for (const [n, result] of picked.entries()) {
    show(out, `Signing approval ${n + 1} of ${picked.length}…`);
    const r = await sendReview(ctx, result, "approved", null);
    if (!r.ok) {
      show(out, `Result ${result} not approved: ${r.body.detail}` +
                (n ? ` (${n} before it were)` : ""), false);
      return;
    }
  }
  show(out, `${picked.length} result${picked.length > 1 ? "s" : ""} approved.`, true);
  out.dataset.reviewed = String(picked.length);
  setTimeout(() => location.reload(), 1000);
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("form[data-test]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      oneAtATime(form, () => enterResult(form));
    });
  });
  const bar = document.querySelector("[data-review-many]");
  if (bar && document.querySelector("[data-pick]")) {
    bar.hidden = false;
    bar.querySelector("[data-approve-picked]").addEventListener("click", (event) => {
      event.preventDefault();
      oneAtATime(bar, () => approvePicked(bar));
    });
  }
  document.querySelectorAll("[data-review] button[data-decision]").forEach((button) => {
    button.addEventListener("click", (event) => {
      event.preventDefault();
      oneAtATime(button.closest("[data-review]"), () => review(button));
    });
  });
});
