/* The product page: records the view, the add-to-cart button, answers to a shopper's question from the
   review-search API, similar products and the recently viewed list. The server already drew the product's facts and
   what its reviews say (stars, trend, aspects, size, also viewed); everything here only adds to them, so a slow or
   failing call leaves the rest of the page usable. The API's highlight (HTML-escaped by the server, sentence in <mark>) is the
   only HTML inserted. */
(function () {
  "use strict";
  const article = document.getElementById("product"), id = article.dataset.productId, title = article.dataset.title;
  const base = `${document.body.dataset.apiUrl || "/api/"}products/${encodeURIComponent(id)}/`;
  const events = window.shopsearchEvents;

  events.track("view", id);
  const recent = events.recent().filter((item) => item.id !== id);
  events.remember({id, title});

  async function getJson(url) {
    const response = await fetch(url, {headers: {Accept: "application/json"}});
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.detail || `HTTP ${response.status}`);
    return body;
  }

  const element = (tag, props, ...children) => {
    const node = Object.assign(document.createElement(tag), props || {});
    node.append(...children);
    return node;
  };
  
  document.getElementById("add-to-cart").addEventListener("click", () => {
    events.track("add_to_cart", id);
    events.flush(false);
    document.getElementById("cart-status").textContent = `${title} was added to your cart.`;
  });

  function productCard(hit) {
    const link = element("a", {href: `/products/${encodeURIComponent(hit.id)}/`, textContent: hit.title});
    const meta = [hit.category, hit.price !== null && hit.price !== undefined ? Number(hit.price).toFixed(2) : null,
                  hit.rating !== null && hit.rating !== undefined ? `${hit.rating.toFixed(1)} out of 5 (${hit.review_count} reviews)` : null]
      .filter(Boolean).join(" · ");
    return element("li", {className: "card"}, element("h3", {}, link), element("p", {className: "meta", textContent: meta}));
  }

  async function similar() {
    const box = document.getElementById("similar");
    try {
      const body = await getJson(`${base}similar/?limit=6`);
      box.replaceChildren(...(body.results.length ? body.results.map(productCard) : [element("li", {className: "status", textContent: "No similar products yet."})]));
    } catch (error) {
      box.replaceChildren(element("li", {className: "status error", textContent: `Similar products are not available: ${error.message}`}));
    }
  }

  function showRecent() {
    if (!recent.length) return;
    document.getElementById("recent").replaceChildren(...recent.slice(0, 6).map((item) => productCard({...item, rating: null})));
    document.getElementById("recent-section").hidden = false;
  }

  const ask = document.getElementById("ask");
  if (ask) {
    let controller = null;
    ask.addEventListener("submit", async (event) => {
      event.preventDefault();
      const question = document.getElementById("question").value.trim(), status = document.getElementById("answer-status");
      const answers = document.getElementById("answers");
      if (!/[\p{L}\p{N}]/u.test(question)) { status.textContent = "Type a question, e.g. “is it see-through?”"; return; }
      if (controller) controller.abort();
      controller = new AbortController();
      status.textContent = "Looking through the reviews…";
      try {
        const response = await fetch(`${ask.dataset.api}?${new URLSearchParams({q: question, page_size: "3"})}`, {signal: controller.signal, headers: {Accept: "application/json"}});
        const body = await response.json();
        if (!response.ok) throw new Error(body.detail || `HTTP ${response.status}`);
        answers.replaceChildren(...body.results.map((hit) => {
          const quote = element("blockquote");
          quote.innerHTML = hit.highlight;
          const rating = hit.rating ? `${hit.rating} out of 5 stars` : "unrated";
          return element("li", {className: "answer"}, element("p", {className: "meta", textContent: `A reviewer (${rating}) says:`}), quote);
        }));
        status.textContent = body.results.length ? `The ${body.results.length} reviews closest to “${body.query}”:` : "No review talks about that.";
      } catch (error) {
        if (error.name !== "AbortError") status.textContent = `No answer: ${error.message}`;
      }
    });
  }

  similar();
  showRecent();
})();
