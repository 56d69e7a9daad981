/* The storefront search page: search as you type over the search API.

   State lives in the URL (/?q=&category=&sort=&page=&min_price=&max_price=&in_stock=&min_rating=, and the shop's
   attribute facets as attr.<name>=, repeated for several values, or attr.<name>.min/.max): every view is a link, and
   Back/Forward restore it (pushState on each new view, replaceState while the shopper keeps typing). A keystroke
   searches at once when no search is on its way; keystrokes while one is coalesce into one search for the latest
   text, sent when that answer is drawn. So a shopper never waits for a debounce timer, and a fast typist still has
   at most one search in flight. A newer view (a facet, Back) aborts the search on its way and only the latest answer
   is ever drawn, so answers never show out of order. Results, facets and chips are built with DOM calls; only the API's highlight fields (which the
   server HTML-escapes, with <mark> around matched terms) are inserted as HTML. */
(function () {
  "use strict";
  const FILTERS = ["category", "min_price", "max_price", "in_stock", "min_rating"];
  // The shop's attribute facets: attr.<name> (repeatable: any of the values; kept as a list) and, for numbers,
  // attr.<name>.min / attr.<name>.max; their labels come with each answer's facets.
  const isAttribute = (key) => key.startsWith("attr."), isRange = (key) => /\.(min|max)$/.test(key);
  const labels = {};
  const KEYS = ["q", ...FILTERS, "sort", "page", "exact"];  // exact=1: the query as typed, uncorrected
  const form = document.getElementById("search"), input = document.getElementById("q");
  const categorySelect = document.getElementById("category"), sortSelect = document.getElementById("sort");
  const statusBox = document.getElementById("status"), list = document.getElementById("results"), emptyBox = document.getElementById("empty");
  const facetsBox = document.getElementById("facets"), facetGroups = document.getElementById("facet-groups"), chipsBox = document.getElementById("chips");
  const pager = document.getElementById("pager"), prev = document.getElementById("prev"), next = document.getElementById("next");
  const api = form.dataset.api, reviews = form.dataset.reviews === "true";
  const money = new Intl.NumberFormat(document.documentElement.lang || "en", {minimumFractionDigits: 2, maximumFractionDigits: 2});
  const correction = document.getElementById("correction");
  let state = fromUrl(), controller = null, latest = 0, typing = false, keyed = false;

  function fromUrl() {
    const params = new URLSearchParams(location.search), result = {};
    for (const key of KEYS) if (params.get(key)) result[key] = params.get(key);
    for (const key of new Set(params.keys())) {
      if (isAttribute(key) && params.get(key)) result[key] = isRange(key) ? params.get(key) : params.getAll(key).filter(Boolean);
    }
    return result;
  }

  function toQuery(s) {
    const params = new URLSearchParams();
    for (const key of KEYS) if (s[key] && !(key === "page" && s[key] === "1") && !(key === "sort" && s[key] === "relevance")) params.set(key, s[key]);
    for (const key of Object.keys(s).filter(isAttribute).sort()) for (const value of [].concat(s[key] || [])) if (value) params.append(key, value);
    return params.toString();
  }

  function apiQuery(s, extra) {
    const params = new URLSearchParams(toQuery(s));
    if (reviews) params.set("reviews", "true");
    if (params.get("exact")) { params.delete("exact"); params.set("understand", "false"); }
    for (const [key, value] of Object.entries(extra || {})) params.set(key, value);
    return `${api}?${params}`;
  }

  function syncForm() {
    if (document.activeElement !== input || !typing) input.value = state.q || "";
    categorySelect.value = state.category || "";
    if (categorySelect.value !== (state.category || "")) {  // a category not in the list (added since): offer it
      categorySelect.append(new Option(state.category, state.category));
      categorySelect.value = state.category;
    }
    sortSelect.value = state.sort || "relevance";
  }

  // A new view: a new history entry, unless the shopper is still typing the same query.
  function go(changes, {fromTyping = false} = {}) {
    if (fromTyping && (changes.q || "") === (state.q || "")) return;  // white space only: the same search
    if ("q" in changes && changes.q !== state.q && !("exact" in changes)) changes = {...changes, exact: ""};  // a new query is corrected again
    state = {...state, ...changes};
    for (const key of Object.keys(state)) if (!state[key] || (Array.isArray(state[key]) && !state[key].length)) delete state[key];
    if (!("page" in changes)) delete state.page;
    const url = `${location.pathname}${toQuery(state) ? "?" + toQuery(state) : ""}`;
    if (url !== `${location.pathname}${location.search}`) {
      if (fromTyping && typing) history.replaceState(state, "", url); else history.pushState(state, "", url);
    }
    typing = fromTyping;
    syncForm();
    run();
  }

  function show(message, isError) {
    statusBox.textContent = message;
    statusBox.classList.toggle("error", Boolean(isError));
  }

  async function getJson(url, signal) {
    const response = await fetch(url, {headers: {Accept: "application/json"}, signal});
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw Object.assign(new Error(body.detail || `The search failed (HTTP ${response.status}).`), {status: response.status});
    return body;
  }

  async function run() {
    if (controller) controller.abort();
    const ticket = ++latest;
    if (!state.q || !/[\p{L}\p{N}]/u.test(state.q)) {
      controller = null;
      list.replaceChildren(); chipsBox.replaceChildren(); emptyBox.hidden = true; pager.hidden = true; facetsBox.hidden = true;
      list.removeAttribute("aria-busy");
      show(state.q ? "Type a word to search for." : "Type to search: results appear as you type.");
      document.title = "Shop search";
      return;
    }
    controller = new AbortController();
    list.setAttribute("aria-busy", "true");
    try {
      // the shopper's signed session id goes with the search, so the owner's search log can tie searches to clicks
      const session = window.shopsearchEvents ? await window.shopsearchEvents.ensureSession().catch(() => "") : "";
      if (ticket !== latest) return;
      const body = await getJson(apiQuery(state, session ? {session} : {}), controller.signal);
      if (ticket !== latest) return;  // a newer search has started since
      await render(body, ticket);
    } catch (error) {
      if (error.name === "AbortError" || ticket !== latest) return;
      list.replaceChildren(); pager.hidden = true; emptyBox.hidden = true;
      show(error.status === 409 ? `The shop's search index is still being built: ${error.message}` : error.message, true);
    } finally {
      if (ticket === latest) {
        list.removeAttribute("aria-busy");
        controller = null;
        if (keyed) { keyed = false; go({q: input.value.trim()}, {fromTyping: true}); }  // typed while this one was on its way
      }
    }
  }

  async function render(body, ticket) {
    document.title = `${body.query} · Shop search`;
    renderCorrection(body);
    renderFacets(body.facets || {});
    renderChips();  // after the facets: attribute chips read their labels
    const start = (body.page - 1) * body.page_size + 1, end = start + body.results.length - 1;
    list.replaceChildren(...body.results.map((hit, index) => card(hit, start + index, body)));
    list.start = start;
    list.dataset.query = body.query;  // which answer is drawn (benchmarks/storefront.py waits for it)
    pager.hidden = body.page <= 1 && !body.has_next;
    prev.disabled = body.page <= 1;
    next.disabled = !body.has_next;
    if (body.results.length) {
      emptyBox.hidden = true;
      const of = body.total !== null && body.total !== undefined ? body.total.toLocaleString() : (body.has_next ? "many" : end.toLocaleString());
      show(body.match === "none" ? `No close match for “${body.query}” — the closest products:`
                                 : `${start.toLocaleString()}–${end.toLocaleString()} of ${of} results for “${body.query}”`);
      list.classList.toggle("no-match", body.match === "none");
    } else {
      show(`No results for “${body.query}”.`);
      await explainEmpty(body, ticket);
    }
  }

  // The API corrected a word no product has ("showing results for"): say so, with one click to search as typed.
  function renderCorrection(body) {
    correction.hidden = !body.corrected_query;
    if (!body.corrected_query) { correction.replaceChildren(); return; }
    const instead = Object.assign(document.createElement("button"), {type: "button", className: "link", textContent: body.query});
    instead.setAttribute("aria-label", `Search instead for ${body.query}, as typed`);
    instead.addEventListener("click", () => go({exact: "1"}));
    const corrected = Object.assign(document.createElement("strong"), {textContent: body.corrected_query});
    correction.replaceChildren("Showing results for ", corrected, ". Search instead for ", instead, ".");
  }

  function stars(rating, count) {
    const box = document.createElement("span");
    box.className = "rating";
    if (rating === null || rating === undefined) {
      box.textContent = count ? `${count} review${count === 1 ? "" : "s"}` : "No reviews yet";
      return box;
    }
    const visual = document.createElement("span");
    visual.className = "stars";
    visual.setAttribute("aria-hidden", "true");
    visual.style.setProperty("--rating", rating);
    const text = document.createElement("span");
    text.textContent = `${rating.toFixed(1)} out of 5 (${count.toLocaleString()} review${count === 1 ? "" : "s"})`;
    box.append(visual, text);
    return box;
  }

  function card(hit, position, body) {
    const li = document.createElement("li");
    li.className = "card";
    const title = document.createElement("h3");
    const link = document.createElement("a");
    link.href = `/products/${encodeURIComponent(hit.id)}/`;
    if (hit.highlights && hit.highlights.title) link.innerHTML = hit.highlights.title; else link.textContent = hit.title;
    link.addEventListener("click", () => {
      const shown = body.results.slice(0, position - ((body.page - 1) * body.page_size) - 1).map((h) => h.id);
      window.shopsearchEvents.track("click", hit.id, {query: body.query, position, shown});
    });
    title.append(link);
    const meta = document.createElement("p");
    meta.className = "meta";
    if (hit.category) meta.append(Object.assign(document.createElement("span"), {className: "category", textContent: hit.category}));
    if (hit.price !== null && hit.price !== undefined) meta.append(Object.assign(document.createElement("span"), {className: "price", textContent: money.format(Number(hit.price))}));
    if (!hit.in_stock) meta.append(Object.assign(document.createElement("span"), {className: "stock out", textContent: "Out of stock"}));
    li.append(title, meta, stars(hit.rating, hit.review_count));
    const description = hit.highlights && hit.highlights.description;
    if (description && description.includes("<mark>")) {
      const snippet = document.createElement("p");
      snippet.className = "snippet";
      snippet.innerHTML = description;
      li.append(snippet);
    }
    if (hit.review_sentence) {
      const quote = document.createElement("p");
      quote.className = "reviewers-say";
      quote.append(Object.assign(document.createElement("span"), {className: "label", textContent: "Reviewers say: "}),
                   Object.assign(document.createElement("q"), {textContent: hit.review_sentence}));
      li.append(quote);
    }
    return li;
  }

  function filterLabel(key, s) {
    if (key === "category") return `Category: ${s.category}`;
    if (key === "in_stock") return s.in_stock === "true" ? "In stock only" : "Out of stock only";
    if (key === "min_price") return `Price from ${money.format(Number(s.min_price))}`;
    if (key === "max_price") return `Price up to ${money.format(Number(s.max_price))}`;
    if (key === "min_rating") return `Rated ${starsAndUp(s.min_rating)}`;
    if (isAttribute(key)) {
      const [, name, end] = key.split("."), label = labels[name] || name;
      return end ? `${label} ${end === "min" ? "from" : "up to"} ${s[key]}` : `${label}: ${[].concat(s[key]).map(valueLabel).join(" or ")}`;
    }
    return `${key}: ${s[key]}`;
  }

  const valueLabel = (value) => (value === "true" ? "Yes" : value === "false" ? "No" : value);
  const starsAndUp = (step) => `${step} star${Number(step) === 1 ? "" : "s"} and up`;

  function active() { return [...FILTERS.filter((key) => state[key]), ...Object.keys(state).filter((key) => isAttribute(key) && state[key].length)]; }

  const cleared = () => Object.fromEntries(active().map((key) => [key, ""]));

  // One chip per active filter, and per value of an attribute filter (removing it keeps the other values).
  function renderChips() {
    const chip = (text, onClick) => {
      const button = Object.assign(document.createElement("button"), {type: "button", className: "chip", textContent: text});
      button.setAttribute("aria-label", `Remove filter ${text}`);
      button.addEventListener("click", onClick);
      return button;
    };
    const chips = active().flatMap((key) => (isAttribute(key) && !isRange(key)
      ? state[key].map((value) => chip(filterLabel(key, {[key]: [value]}), () => go({[key]: state[key].filter((v) => v !== value)})))
      : [chip(filterLabel(key, state), () => go({[key]: ""}))]));
    if (chips.length > 1) {
      const all = Object.assign(document.createElement("button"), {type: "button", className: "chip clear", textContent: "Clear all filters"});
      all.addEventListener("click", () => go(cleared()));
      chips.push(all);
    }
    chipsBox.replaceChildren(...chips);
  }

  function toggle(label, count, pressed, onClick) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "facet";
    button.setAttribute("aria-pressed", String(pressed));
    button.append(Object.assign(document.createElement("span"), {textContent: label}),
                  Object.assign(document.createElement("span"), {className: "count", textContent: count.toLocaleString()}));
    button.addEventListener("click", onClick);
    return button;
  }

  function group(title, buttons) {
    const fieldset = document.createElement("fieldset");
    fieldset.append(Object.assign(document.createElement("legend"), {textContent: title}), ...buttons);
    return fieldset;
  }

  function renderFacets(facets) {
    const groups = [];
    for (const facet of facets.attributes || []) labels[facet.name] = facet.label;
    const categories = facets.categories || [];
    if (categories.length) {
      groups.push(group("Category", categories.map((row) => toggle(row.value, row.count, state.category === row.value,
        () => go({category: state.category === row.value ? "" : row.value})))));
    }
    const prices = (facets.price || []).filter((row) => row.count > 0);
    if (prices.length) {
      groups.push(group("Price", prices.map((row) => {
        const low = row.min === null ? "" : String(Number(row.min)), high = row.max === null ? "" : String(Number(row.max));
        const label = !low ? `Under ${money.format(Number(high))}` : !high ? `${money.format(Number(low))} and up` : `${money.format(Number(low))} – ${money.format(Number(high))}`;
        const on = (state.min_price || "") === low && (state.max_price || "") === high;
        return toggle(label, row.count, on, () => go(on ? {min_price: "", max_price: ""} : {min_price: low, max_price: high}));
      })));
    }
    const stock = (facets.in_stock || []).find((row) => row.value === true);
    const outOfStock = (facets.in_stock || []).find((row) => row.value === false);
    if (stock && (outOfStock || state.in_stock === "true")) {
      groups.push(group("Availability", [toggle("In stock only", stock.count, state.in_stock === "true", () => go({in_stock: state.in_stock === "true" ? "" : "true"}))]));
    }
    const ratings = facets.rating || [];
    if (ratings.length) {
      groups.push(group("Rating", ratings.map((row) => {
        const on = state.min_rating === String(row.min);
        return toggle(starsAndUp(row.min), row.count, on, () => go({min_rating: on ? "" : String(row.min)}));
      })));
    }
    for (const facet of facets.attributes || []) {  // the shop's declared attribute facets, in its order
      const key = `attr.${facet.name}`;
      if (facet.type === "number") {
        const rows = (facet.buckets || []).filter((row) => row.count > 0);
        if (rows.length) groups.push(group(facet.label, rows.map((row) => {
          const low = row.min === null ? "" : String(row.min), high = row.max === null ? "" : String(row.max);
          const on = (state[`${key}.min`] || "") === low && (state[`${key}.max`] || "") === high;
          return toggle(!low ? `Under ${high}` : !high ? `${low} and up` : `${low} – ${high}`, row.count, on,
            () => go({[`${key}.min`]: on ? "" : low, [`${key}.max`]: on ? "" : high}));
        })));
        continue;
      }
      const chosen = state[key] || [];
      groups.push(group(facet.label, facet.values.map((row) => {
        const value = String(row.value), on = chosen.includes(value);
        const values = on ? chosen.filter((v) => v !== value) : facet.type === "boolean" ? [value] : [...chosen, value];
        return toggle(valueLabel(value), row.count, on, () => go({[key]: values}));
      })));
    }
    facetGroups.replaceChildren(...groups);
    facetsBox.hidden = !groups.length;
  }

  // No results: find which filter emptied the page (each active filter dropped in turn), and offer to drop it.
  async function explainEmpty(body, ticket) {
    const filters = active();
    emptyBox.replaceChildren();
    emptyBox.hidden = false;
    const say = (text) => emptyBox.append(Object.assign(document.createElement("p"), {textContent: text}));
    if (!filters.length) {
      say(`Nothing in the shop matches “${body.query}”. Try other words, or fewer of them.`);
      return;
    }
    const probes = await Promise.all(filters.map(async (key) => {
      try {
        const without = await getJson(apiQuery({...state, [key]: "", page: ""}, {page_size: "1"}), controller.signal);
        return {key, found: without.results.length > 0};
      } catch (error) { return {key, found: false}; }
    }));
    if (ticket !== latest) return;
    const culprits = probes.filter((probe) => probe.found).map((probe) => probe.key);
    const names = filters.map((key) => filterLabel(key, state)).join(", ");
    if (culprits.length) {
      say(culprits.length === filters.length && filters.length > 1
        ? `Each of your filters (${names}) would leave results on its own; together they leave none.`
        : `The filter ${culprits.map((key) => `“${filterLabel(key, state)}”`).join(" or ")} left no results for “${body.query}”.`);
    } else {
      say(`Your filters (${names}) leave no results for “${body.query}”.`);
    }
    const keys = culprits.length && culprits.length < filters.length ? culprits : filters;
    for (const key of keys.length === 1 ? keys : []) {
      const clear = Object.assign(document.createElement("button"), {type: "button", className: "primary", textContent: `Remove “${filterLabel(key, state)}”`});
      clear.addEventListener("click", () => go({[key]: ""}));
      emptyBox.append(clear);
    }
    if (keys.length !== 1) {
      const all = Object.assign(document.createElement("button"), {type: "button", className: "primary", textContent: "Clear all filters"});
      all.addEventListener("click", () => go(cleared()));
      emptyBox.append(all);
    }
  }

  input.addEventListener("input", () => {
    if (controller) keyed = true; else go({q: input.value.trim()}, {fromTyping: true});
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    typing = false;
    go({q: input.value.trim()});
  });
  categorySelect.addEventListener("change", () => go({category: categorySelect.value}));
  sortSelect.addEventListener("change", () => go({sort: sortSelect.value}));
  prev.addEventListener("click", () => { go({page: String(Math.max(1, Number(state.page || 1) - 1))}); document.getElementById("main").focus(); });
  next.addEventListener("click", () => { go({page: String(Number(state.page || 1) + 1)}); document.getElementById("main").focus(); });
  input.addEventListener("blur", () => { typing = false; });
  addEventListener("popstate", () => { state = fromUrl(); typing = false; syncForm(); run(); });

  // Narrow screens: the facet panel starts folded, so results come first.
  document.getElementById("facets-details").open = matchMedia("(min-width: 48rem)").matches;
  history.replaceState(state, "", location.href);
  syncForm();
  if (state.q) run();
})();
