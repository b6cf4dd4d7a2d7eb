// Signing keys made and kept by this browser (WebCrypto Ed25519).
// The private key is created non-extractable: script cannot read it, only ask the
// browser to sign with it. It is kept in IndexedDB as a CryptoKey, per user.
"use strict";

const STORE = "trace-signing-keys";

function openStore() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(STORE, 1);
    request.onupgradeneeded = () => request.result.createObjectStore("keys", { keyPath: "user" });
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

async function storedKey(user) {
  const db = await openStore();
  return new Promise((resolve, reject) => {
    const get = db.transaction("keys").objectStore("keys").get(user);
    get.onsuccess = () => resolve(get.result || null);
    get.onerror = () => reject(get.error);
  });
}

async function keepKey(record) {
  const db = await openStore();
  return new Promise((resolve, reject) => {
    const tx = db.transaction("keys", "readwrite");
    tx.objectStore("keys").put(record);
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
  });
}

const hex = (bytes) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
const base64 = (bytes) => btoa(String.fromCharCode(...bytes));

// RFC 8785 for an object of strings: members sorted by name; JSON.stringify escapes
// strings exactly as RFC 8785 requires. The names below are already in order.
const popMessage = (key, log, user) =>
  new TextEncoder().encode("trace-key-pop-v1\n" + JSON.stringify({ key, log, user }));

// Make a non-extractable key in this browser, register its public half for the user
// with a proof of possession, and keep it. Returns the kept record; throws with the
// server's reason if registration is refused.
async function registerNewKey(user, origin, csrf, label) {
  const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
  const publicKey = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
  const keyId = hex(new Uint8Array(await crypto.subtle.digest("SHA-256", publicKey)).slice(0, 16));
  const pop = new Uint8Array(
    await crypto.subtle.sign({ name: "Ed25519" }, pair.privateKey, popMessage(keyId, origin, user))
  );
  const response = await fetch("/keys", {
    method: "POST",
    headers: { "content-type": "application/json", "x-csrf-token": csrf },
    body: JSON.stringify({ public_key: base64(publicKey), label, pop: base64(pop) }),
  });
  const body = await response.json();
  if (!response.ok) throw new Error("Key not registered: " + (body.detail || response.status));
  const record = { user, keyId, privateKey: pair.privateKey, publicKey: pair.publicKey };
  await keepKey(record);
  return record;
}

async function createAndRegister(panel) {
  const { user, origin, csrf } = panel.dataset;
  const status = panel.querySelector("[data-status]");
  const label = panel.querySelector("input[name=label]").value.trim() || "browser key";
  status.textContent = "Creating a key in this browser…";
  let record;
  try {
    record = await registerNewKey(user, origin, csrf, label);
  } catch (error) {
    status.textContent = error.message.startsWith("Key not registered")
      ? error.message
      : "This browser cannot make Ed25519 keys (" + error.name + "). " +
        "Use a current Chrome, Edge, Firefox or Safari.";
    return;
  }
  // Reload so the table of registered keys shows the new one.
  location.assign("/ui/account?registered=" + encodeURIComponent(record.keyId));
}

async function showHeldKey(panel) {
  const held = await storedKey(panel.dataset.user).catch(() => null);
  const line = panel.querySelector("[data-held]");
  line.textContent = held
    ? `This browser holds key ${held.keyId}.`
    : "This browser holds no signing key for you yet.";
  if (held) panel.querySelector("button").textContent = "Replace this browser's key";
}

document.addEventListener("DOMContentLoaded", () => {
  const panel = document.querySelector("[data-browser-key]");
  if (!panel) return;
  showHeldKey(panel);
  panel.querySelector("button").addEventListener("click", async (event) => {
    event.preventDefault();
    const held = await storedKey(panel.dataset.user).catch(() => null);
    if (held && !confirm(`This browser already holds key ${held.keyId}. Replace it? ` +
                         "Revoke the old key if nobody will use it again.")) {
      return;
    }
    await createAndRegister(panel);
  });
});
