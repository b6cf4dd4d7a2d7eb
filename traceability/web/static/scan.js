// Scan many: send one photo to the server, which decodes every QR code in it, and list
// what each names. Nothing here needs a barcode API in the browser.
"use strict";

function cell(row, label, text, className) {
  const td = row.insertCell();
  td.dataset.label = label;
  td.textContent = text || "";
  if (className) td.className = className;
  return td;
}

async function sendPhoto(form) {
  const out = form.querySelector("[data-outcome]");
  const file = form.elements.image.files[0];
  if (!file) return;
  out.className = "";
  out.textContent = "Reading the labels…";
  const response = await fetch("/scan", {
    method: "POST",
    headers: { "content-type": file.type || "image/jpeg", "x-csrf-token": form.dataset.csrf },
    body: file,
  });
  const body = await response.json();
  if (!response.ok) {
    out.className = "error";
    out.textContent = `Not read: ${body.detail}`;
    return;
  }
  const table = document.querySelector("[data-codes]");
  const rows = table.tBodies[0];
  rows.replaceChildren();
  for (const code of body.codes) {
    const row = rows.insertRow();
    row.dataset.kind = code.kind;
    const first = cell(row, "Code", "");
    if (code.page) {
      const link = document.createElement("a");
      link.href = code.page;
      link.textContent = code.kind === "shipper" ? `shipper ${code.serial}` : "open";
      first.append(link);
    } else {
      first.textContent = "not one of ours";
    }
    cell(row, "Lot", code.lot);
    cell(row, "Vial", code.kind === "vial" ? code.serial : "");
    cell(row, "State", code.state);
    cell(row, "Holder", code.custodian);
    cell(row, "Label", code.tag, code.flagged ? "error" : "");
    if (code.flagged) row.dataset.flagged = "yes";
  }
  table.hidden = false;
  out.className = "ok";
  out.textContent = `${body.codes.length} code${body.codes.length === 1 ? "" : "s"} read.`;
  out.dataset.count = String(body.codes.length);
  // A photo can miss labels; say so, and against a shipper's contents say which.
  const notes = document.querySelector("[data-shippers]");
  notes.replaceChildren();
  for (const shipper of body.shippers) {
    const item = document.createElement("li");
    item.dataset.sscc = shipper.sscc;
    if (shipper.not_seen.length === 0) {
      item.className = "ok";
      item.textContent = `Shipper ${shipper.sscc}: all ${shipper.packed} packed vials seen.`;
    } else {
      item.className = "error";
      item.dataset.missing = String(shipper.not_seen.length);
      item.textContent = `Shipper ${shipper.sscc}: ${shipper.seen} of ${shipper.packed} packed ` +
        `vials seen; not seen: ${shipper.not_seen.join(", ")}. Take another photo, closer ` +
        "or with less glare, or scan those vials one by one.";
    }
    notes.append(item);
  }
  if (body.shippers.length === 0) {
    const item = document.createElement("li");
    item.className = "muted";
    item.textContent = "Only the labels readable in this photo are listed. Include the " +
      "shipper's own label to check the photo against what is packed in it.";
    notes.append(item);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const form = document.querySelector("form[data-scan]");
  form.addEventListener("submit", (event) => { event.preventDefault(); sendPhoto(form); });
  form.dataset.ready = "yes";
});
