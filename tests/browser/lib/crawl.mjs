// The crawl: every link of the main navigation, then every same-origin page linked from
// those pages (one level deeper), each through the page checks. Pages added later are
// covered without new test code.

import { visit } from "./browser.mjs";

/// Links never followed: they act (sign out), start something elsewhere (single sign-on),
/// or are files rather than pages.
const SKIPPED_PATHS = [/^\/logout\b/, /^\/login\b/, /^\/setup\b/, /^\/assets\//, /^\/api\//];
const FILE_LIKE = /\.(csv|json|txt|deb|rpm|pkg|msi|zip|gz|tar|pem|crt|sql|yaml|yml)$|\/(download|export)(\/|$)/i;

/// `/hosts/12?page=2&q=x` → `/hosts/:n?page&q`: pages of one kind, visited at most
/// `perPattern` times when the path names a record (`:n`, `:id`), `perVariant` times when
/// only the query differs (tabs, filters, pages of a list).
export function pattern(url) {
  const path = url.pathname
    .split("/")
    .map((segment) => (/^\d+$/.test(segment) ? ":n" : /^[0-9a-f-]{16,}$/i.test(segment) ? ":id" : segment))
    .join("/");
  const keys = [...new Set([...url.searchParams.keys()])].sort();
  return keys.length ? `${path}?${keys.join("&")}` : path;
}

/// What the page links to and which forms it has (read in the page).
async function readPage(page) {
  return page.evaluate(() => {
    const links = [...document.querySelectorAll("a[href]")].map((a) => ({
      href: a.href,
      download: a.hasAttribute("download"),
      confirm: a.hasAttribute("data-confirm"),
      inNav: !!a.closest("nav[aria-label=Main]"),
    }));
    const forms = [...document.querySelectorAll("form")].map((form) => ({
      method: (form.getAttribute("method") || "get").toLowerCase(),
      action: new URL(form.getAttribute("action") || location.href, location.href).toString(),
      fields: [...new FormData(form).entries()].filter(([, v]) => typeof v === "string"),
      confirm: form.hasAttribute("data-confirm") || !!form.querySelector("[data-confirm]"),
    }));
    return { links, forms };
  });
}

/// Crawls as the signed-in viewer of `page`. `who` prefixes screenshot names; `pending`
/// lists navigation paths whose pages are still being written elsewhere (a 404 there is
/// noted, not failed). Answers { navPaths, visited, pendingMissing, forms, failures }.
export async function crawl(page, origin, { who, pending = [], perPattern = 2, perVariant = 5, maxPages = 80, log = () => {} }) {
  const failures = [];
  const visited = [];
  const forms = [];
  const pendingMissing = [];
  const seenPatterns = new Map();
  const seenUrls = new Set();

  async function check(url, name, options) {
    try {
      const response = await visit(page, url, name, options);
      visited.push({ url, status: response.status() });
      const found = await readPage(page);
      for (const form of found.forms) forms.push({ page: url, ...form });
      return found;
    } catch (err) {
      failures.push(err.message);
      return null;
    }
  }

  const nameOf = (url) => `${who}-${new URL(url).pathname.slice(1) || "dashboard"}${new URL(url).search}`;

  // Level 0: the dashboard, which has the navigation.
  const home = new URL("/", origin).toString();
  seenUrls.add(home);
  const start = await check(home, nameOf(home));
  if (!start) return { navPaths: [], visited, pendingMissing, forms, failures };
  const navUrls = [...new Set(start.links.filter((l) => l.inNav).map((l) => l.href))];
  const navPaths = navUrls.map((u) => new URL(u).pathname);

  // Level 1: the navigation.
  const deeper = [...start.links];
  for (const url of navUrls) {
    if (seenUrls.has(url)) continue;
    seenUrls.add(url);
    seenPatterns.set(pattern(new URL(url)), 1);
    const path = new URL(url).pathname;
    const probe = await page.request.get(url, { maxRedirects: 0 });
    if (probe.status() === 404 && pending.includes(path)) {
      pendingMissing.push(path);
      log(`${path}: not built yet (404), listed as pending`);
      // The first one still shows the "not found" page: it passes the checks too.
      if (pendingMissing.length === 1) await check(url, `${who}-not-found`, { expectStatus: 404 });
      continue;
    }
    if (pending.includes(path)) log(`${path} exists now: it can leave the pending list`);
    const found = await check(url, nameOf(url));
    if (found) deeper.push(...found.links);
  }

  // Level 2: same-origin pages linked from those.
  for (const link of deeper) {
    if (visited.length >= maxPages) {
      log(`stopped at ${maxPages} pages`);
      break;
    }
    const url = new URL(link.href);
    url.hash = "";
    const key = url.toString();
    if (url.origin !== origin || seenUrls.has(key)) continue;
    seenUrls.add(key);
    if (link.download || link.confirm) continue;
    if (SKIPPED_PATHS.some((re) => re.test(url.pathname)) || FILE_LIKE.test(url.pathname)) continue;
    const kind = pattern(url);
    const count = seenPatterns.get(kind) || 0;
    if (count >= (/:n|:id/.test(kind) ? perPattern : perVariant)) continue;
    seenPatterns.set(kind, count + 1);
    // Only HTML pages: a download or an API answer is no page to check.
    const probe = await page.request.get(key, { maxRedirects: 0 });
    const type = probe.headers()["content-type"] || "";
    const disposition = probe.headers()["content-disposition"] || "";
    if (probe.status() >= 300 && probe.status() < 400) {
      // Followed by the browser below.
    } else if (!type.startsWith("text/html") || /attachment/i.test(disposition)) {
      log(`${url.pathname}${url.search}: not a page (${type || "no content type"}), skipped`);
      continue;
    } else if (probe.status() === 404 && pending.some((p) => url.pathname === p || url.pathname.startsWith(`${p}/`))) {
      pendingMissing.push(url.pathname);
      continue;
    }
    await check(key, nameOf(key));
  }
  return { navPaths, visited, pendingMissing, forms, failures };
}
