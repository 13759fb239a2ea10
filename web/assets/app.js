// Flotilla admin UI: small enhancements; every page works without this script.
"use strict";

// A form or button with data-confirm asks before it acts (bulk actions state their count).
document.addEventListener("submit", (event) => {
  const form = event.target;
  const button = event.submitter;
  const message = (button && button.dataset.confirm) || form.dataset.confirm;
  if (message && !window.confirm(message)) {
    event.preventDefault();
  }
});

// "Select all" checkboxes: data-select-all="name" toggles every checkbox of that name.
document.addEventListener("change", (event) => {
  const box = event.target;
  if (box.dataset && box.dataset.selectAll) {
    for (const other of document.querySelectorAll(`input[type=checkbox][name="${box.dataset.selectAll}"]`)) {
      other.checked = box.checked;
    }
  }
});

// Text areas with data-draft keep their text across navigation (the SQL editor's draft).
for (const area of document.querySelectorAll("textarea[data-draft]")) {
  const key = `flotilla-draft:${area.dataset.draft}`;
  if (!area.value) {
    const saved = window.localStorage.getItem(key);
    if (saved) area.value = saved;
  }
  area.addEventListener("input", () => window.localStorage.setItem(key, area.value));
}

// Regions with data-refresh="<url>" reload their HTML fragment from the server every few
// seconds until the fragment says it is done (data-done on its root): live query results,
// installer progress.
for (const region of document.querySelectorAll("[data-refresh]")) {
  const every = Number(region.dataset.every || 2000);
  const tick = async () => {
    try {
      const response = await fetch(region.dataset.refresh, { credentials: "same-origin", headers: { "Accept": "text/html" } });
      if (response.ok) {
        const html = await response.text();
        const doc = new DOMParser().parseFromString(html, "text/html");
        const fresh = doc.body.firstElementChild;
        if (fresh) {
          region.replaceChildren(...fresh.childNodes);
          if (fresh.hasAttribute("data-done")) return;
        }
      }
    } catch (_) { /* the next tick tries again */ }
    window.setTimeout(tick, every);
  };
  if (!region.hasAttribute("data-done")) window.setTimeout(tick, every);
}
