/* Shopper events for shopsearch: views, result clicks and add-to-cart, posted to the events API in batches.
   Events wait in a queue (kept in sessionStorage, so a click that navigates away is not lost) and leave together:
   a few seconds after the first one, or by navigator.sendBeacon when the page is hidden. The anonymous session id
   comes from the server (POST /api/sessions/) and lives in localStorage. Also keeps the shopper's recently viewed products (localStorage). */
(function () {
  "use strict";
  const SESSION_KEY = "shopsearch.session", QUEUE_KEY = "shopsearch.events", RECENT_KEY = "shopsearch.recent";
  const MAX_BATCH = 100, FLUSH_AFTER_MS = 3000, RECENT_KEPT = 12;
  const url = document.body.dataset.eventsUrl || "/api/events/", sessionsUrl = document.body.dataset.sessionsUrl || "/api/sessions/";
  let timer = null;

  function read(storage, key, fallback) {
    try { return JSON.parse(storage.getItem(key)) ?? fallback; } catch (error) { return fallback; }
  }
  function write(storage, key, value) {
    try { storage.setItem(key, JSON.stringify(value)); } catch (error) { /* storage full or disabled: events are best effort */ }
  }

  // The session id comes from the server (POST sessions/: signed, so nobody can post in another shopper's name) and
  // is kept in localStorage; events wait in the queue until there is one.
  function sessionId() {
    try { return localStorage.getItem(SESSION_KEY); } catch (error) { return memorySession; }
  }
  let memorySession = null, asking = null;
  function ensureSession() {
    if (sessionId()) return Promise.resolve(sessionId());
    asking = asking || fetch(sessionsUrl, {method: "POST", headers: {Accept: "application/json"}})
      .then((response) => response.ok ? response.json() : Promise.reject(new Error(`HTTP ${response.status}`)))
      .then((body) => {
        memorySession = body.session;
        try { localStorage.setItem(SESSION_KEY, body.session); } catch (error) { /* private mode: this page only */ }
        return body.session;
      })
      .finally(() => { asking = null; });
    return asking;
  }

  function track(type, productId, extra) {
    const queue = read(sessionStorage, QUEUE_KEY, []);
    queue.push({type, product_id: String(productId), ...(extra || {})});
    write(sessionStorage, QUEUE_KEY, queue.slice(-MAX_BATCH));
    if (timer === null) timer = setTimeout(() => flush(false), FLUSH_AFTER_MS);
  }

  function requeue(events) {
    write(sessionStorage, QUEUE_KEY, [...events, ...read(sessionStorage, QUEUE_KEY, [])].slice(-MAX_BATCH));
  }

  function flush(leaving) {
    clearTimeout(timer);
    timer = null;
    const queue = read(sessionStorage, QUEUE_KEY, []), session = sessionId();
    if (!queue.length) return Promise.resolve();
    if (!session) {  // no session yet: ask for one, then send (a page being left keeps the queue for the next)
      return leaving ? Promise.resolve() : ensureSession().then(() => flush(false), () => undefined);
    }
    write(sessionStorage, QUEUE_KEY, []);
    const batch = queue.slice(0, MAX_BATCH).map((event) => ({...event, session_id: session}));
    const body = JSON.stringify(batch);
    if (leaving && navigator.sendBeacon && navigator.sendBeacon(url, new Blob([body], {type: "application/json"}))) return Promise.resolve();
    return fetch(url, {method: "POST", body, keepalive: true, headers: {"Content-Type": "application/json"}}).then(async (response) => {
      if (response.status >= 500 || response.status === 429) requeue(queue);
      else if (response.status === 400 && /session/.test((await response.json().catch(() => ({}))).detail || "")) {
        try { localStorage.removeItem(SESSION_KEY); } catch (error) { /* nothing stored */ }
        memorySession = null;
        requeue(queue);  // a session the server no longer accepts: the next flush asks for a new one
      }
    }, () => requeue(queue));
  }

  function remember(product) {
    const recent = read(localStorage, RECENT_KEY, []).filter((item) => item.id !== product.id);
    recent.unshift(product);
    write(localStorage, RECENT_KEY, recent.slice(0, RECENT_KEPT));
  }

  addEventListener("pagehide", () => flush(true));
  document.addEventListener("visibilitychange", () => { if (document.visibilityState === "hidden") flush(true); });
  ensureSession().catch(() => undefined);
  if (read(sessionStorage, QUEUE_KEY, []).length) timer = setTimeout(() => flush(false), FLUSH_AFTER_MS);  // left by the previous page

  window.shopsearchEvents = {track, flush, sessionId, ensureSession, remember, recent: () => read(localStorage, RECENT_KEY, [])};
})();
