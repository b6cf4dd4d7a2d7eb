// Every time on these pages is UTC (<time datetime=... data-utc>); beside each, the
// viewer's own local time, so that nobody converts in their head. Offline, no library.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const format = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
    timeZoneName: "short",
  });
  for (const element of document.querySelectorAll("time[data-utc]")) {
    const moment = new Date(element.getAttribute("datetime"));
    if (Number.isNaN(moment.getTime())) continue;
    const local = document.createElement("span");
    local.className = "muted local-time";
    local.textContent = ` (${format.format(moment)})`;
    element.after(local);
  }
});
