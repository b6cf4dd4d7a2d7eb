// Upload forms: send the chosen file as the request body (CSV or JSON by its name or
// type) with the CSRF token in a header, and say what was found or why it was refused.
document.addEventListener("DOMContentLoaded", () => {
  const csrf = document.querySelector("[data-signing]").dataset.csrf;
  document.querySelectorAll("form[data-upload]").forEach((form) => {
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const out = form.querySelector("[data-upload-outcome]");
      const file = form.elements.file.files[0];
      if (!file) return;
      const json = /\.json$/i.test(file.name) || file.type === "application/json";
      out.className = "";
      out.textContent = "Uploading…";
      try {
        const response = await fetch(form.action, {
          method: "POST",
          headers: { "content-type": json ? "application/json" : "text/csv",
                     "x-csrf-token": csrf, "accept": "application/json" },
          body: file,
        });
        const body = await response.json();
        if (!response.ok) {
          out.className = "error";
          out.textContent = `Refused, nothing stored: ${body.detail}`
            + (body.field ? ` (${body.field})` : "");
          return;
        }
        const found = body.excursions.length;
        const known = body.already_recorded.length;
        out.className = found || known ? "error" : "ok";
        out.textContent = `${body.readings} reading${body.readings === 1 ? '' : 's'} stored (log ${body.log_index}); `
          + (found ? `${found} new excursion${found === 1 ? "" : "s"} found` : "no new excursion")
          + (known ? `; ${known} already recorded from an earlier file (not counted twice).` : ".");
        setTimeout(() => location.reload(), 1500);
      } catch (error) {
        out.className = "error";
        out.textContent = error.message;
      }
    });
  });
});
