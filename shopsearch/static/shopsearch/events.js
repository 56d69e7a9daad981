/* Shopper events for shopsearch: views, result clicks and add-to-cart, posted to the events API in batches.
   Events wait in a queue (kept in sessionStorage, so a click that navigates away is not lost) and leave together:
   a few seconds after the first one, or by navigator.sendBeacon when the page is hidden. The anonymous session id
   lives in localStorage. Also keeps the shopper's recently viewed products (localStorage). */
(function () {
  "use strict";
  const SESSION_KEY = "shopsearch.session", QUEUE_KEY = "shopsearch.events", RECENT_KEY = "shopsearch.recent";
  const MAX_BATCH = 100, FLUSH_AFTER_MS = 3000, RECENT_KEPT = 12;
  const url = document.body.dataset.eventsUrl || "/api/events/";
  let timer = null;

  function read(storage, key, fallback) {
    try { return JSON.parse(storage.getItem(key)) ?? fallback; } catch (error) { return fallback; }
  }
  function write(storage, key, value) {
    try { storage.setItem(key, JSON.stringify(value)); } catch (error) { /* storage full or disabled: events are best effort */ }
  }

  function sessionId() {
    let id = null;
    try { id = localStorage.getItem(SESSION_KEY); } catch (error) { /* private mode */ }
    if (!id) {
      const random = window.crypto && crypto.randomUUID ? crypto.randomUUID() : `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`;
      id = `s-${random}`;
      try { localStorage.setItem(SESSION_KEY, id); } catch (error) { /* private mode: one id per page */ }
    }
    return id;
  }

  function track(type, productId, extra) {
    const event = {type, session_id: sessionId(), product_id: String(productId), ...(extra || {})};
    const queue = read(sessionStorage, QUEUE_KEY, []);
    queue.push(event);
    write(sessionStorage, QUEUE_KEY, queue.slice(-MAX_BATCH));
    if (timer === null) timer = setTimeout(() => flush(false), FLUSH_AFTER_MS);
  }

  function flush(leaving) {
    clearTimeout(timer);
    timer = null;
    const queue = read(sessionStorage, QUEUE_KEY, []);
    if (!queue.length) return Promise.resolve();
    write(sessionStorage, QUEUE_KEY, []);
    const body = JSON.stringify(queue.slice(0, MAX_BATCH));
    if (leaving && navigator.sendBeacon && navigator.sendBeacon(url, new Blob([body], {type: "application/json"}))) return Promise.resolve();
    return fetch(url, {method: "POST", body, keepalive: true, headers: {"Content-Type": "application/json"}}).then((response) => {
      if (response.status >= 500) write(sessionStorage, QUEUE_KEY, [...queue, ...read(sessionStorage, QUEUE_KEY, [])].slice(-MAX_BATCH));
    }, () => write(sessionStorage, QUEUE_KEY, [...queue, ...read(sessionStorage, QUEUE_KEY, [])].slice(-MAX_BATCH)));
  }

  function remember(product) {
    const recent = read(localStorage, RECENT_KEY, []).filter((item) => item.id !== product.id);
    recent.unshift(product);
    write(localStorage, RECENT_KEY, recent.slice(0, RECENT_KEPT));
  }

  addEventListener("pagehide", () => flush(true));
  document.addEventListener("visibilitychange", () => { if (document.visibilityState === "hidden") flush(true); });
  if (read(sessionStorage, QUEUE_KEY, []).length) timer = setTimeout(() => flush(false), FLUSH_AFTER_MS);  // left by the previous page

  window.shopsearchEvents = {track, flush, sessionId, remember, recent: () => read(localStorage, RECENT_KEY, [])};
})();
