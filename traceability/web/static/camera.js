// The in-page camera scanner: point the phone at a vial's or shipper's label and the
// page opens what it names. Frames are decoded by the browser's own BarcodeDetector
// where it has one; elsewhere each frame goes to this server's /scan, decoded there by
// the project's own decoder. No script or file comes from a third-party site.
"use strict";

const FRAME_MS = 1200;  // under /scan's per-client rate limit, and enough to aim

// A label's URI names a vial (/01/.../21/...) or a shipper (/00/...): open it here.
function ourPage(text) {
  try {
    const url = new URL(text);
    return /^\/0[01]\//.test(url.pathname) ? url.pathname + url.search : null;
  } catch (error) {
    return null;
  }
}

async function viaDetector(detector, video) {
  for (const code of await detector.detect(video)) {
    const page = ourPage(code.rawValue);
    if (page) return page;
  }
  return null;
}

async function viaServer(video, canvas, csrf) {
  canvas.width = video.videoWidth;
  canvas.height = video.videoHeight;
  canvas.getContext("2d").drawImage(video, 0, 0);
  const frame = await new Promise((done) => canvas.toBlob(done, "image/jpeg", 0.9));
  const response = await fetch("/scan", {
    method: "POST",
    headers: { "content-type": "image/jpeg", "x-csrf-token": csrf },
    body: frame,
  });
  if (response.status === 429) return null;  // too fast: the next frame tries again
  const body = await response.json();
  if (!response.ok) throw new Error(body.detail);
  const code = body.codes.find((c) => c.page);
  return code ? code.page : null;
}

async function scan(box) {
  const out = box.parentElement.querySelector("[data-camera-outcome]");
  const video = box.querySelector("video");
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      video: { facingMode: "environment" }, audio: false,
    });
  } catch (error) {
    out.className = "error";
    out.textContent = `No camera: ${error.message}. Use your phone's camera app instead.`;
    return;
  }
  video.srcObject = stream;
  box.hidden = false;
  await video.play();
  out.className = "";
  out.textContent = "Point the camera at a label…";
  const detector = "BarcodeDetector" in window
    ? new window.BarcodeDetector({ formats: ["qr_code"] }) : null;
  const canvas = document.createElement("canvas");
  let busy = false;
  const timer = setInterval(async () => {
    if (busy || video.readyState < 2) return;
    busy = true;
    try {
      const page = detector ? await viaDetector(detector, video)
                            : await viaServer(video, canvas, box.dataset.csrf);
      if (page) {
        clearInterval(timer);
        stream.getTracks().forEach((track) => track.stop());
        out.className = "ok";
        out.textContent = "Label read: opening it…";
        out.dataset.read = page;
        location.assign(page);
      }
    } catch (error) {
      out.className = "error";
      out.textContent = error.message;
    } finally {
      busy = false;
    }
  }, FRAME_MS);
}

document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("[data-camera-start]")) {
    const box = document.querySelector(button.dataset.cameraStart);
    button.addEventListener("click", () => scan(box));
    button.dataset.ready = "yes";
  }
});
