// The embedding map (Chart.js, vendored): one point per product, coloured by category or by review sentiment; hover
// shows title, category and sentiment, a click opens the product page; the search box drops a query's point (placed
// by the same fitted projection, asked of the server) and rings the query's nearest products by the full vectors.
(function () {
  const points = JSON.parse(document.getElementById("map-points").textContent);
  const canvas = document.getElementById("map-chart");
  if (!window.Chart || !canvas) return;
  const productUrl = canvas.dataset.productUrl;
  const categories = [...new Set(points.map((p) => p.category || "(none)"))].sort();
  const hue = (i) => `hsl(${Math.round((360 * i) / Math.max(categories.length, 1))}, 65%, 45%)`;
  // sentiment in [-1, 1]: red (negative) through grey-yellow to green (positive); grey without labelled reviews
  const mood = (s) => (s === null ? "rgba(150,150,150,0.5)" : `hsl(${Math.round(60 + 60 * s)}, 75%, 42%)`);
  let query = null, nearest = new Set();

  function datasets(by) {
    const sets = by === "category"
      ? categories.map((name, i) => ({ label: name, data: points.filter((p) => (p.category || "(none)") === name), backgroundColor: hue(i) }))
      : [{ label: "mean review sentiment: red −1 … green +1, grey: none", data: points,
           backgroundColor: points.map((p) => mood(p.sentiment)) }];
    sets.forEach((set) => {
      set.pointRadius = set.data.map((p) => (nearest.has(p.id) ? 7 : 3));
      set.pointBorderColor = set.data.map((p) => (nearest.has(p.id) ? "#000" : "rgba(0,0,0,0)"));
      set.pointBorderWidth = set.data.map((p) => (nearest.has(p.id) ? 2 : 0));
    });
    if (query) sets.push({ label: `query: ${query.query}`, data: [query], pointStyle: "star", pointRadius: 14, borderColor: "#000", backgroundColor: "#000", borderWidth: 2 });
    return sets;
  }

  const chart = new Chart(canvas, {
    type: "scatter",
    data: { datasets: datasets("category") },
    options: {
      animation: false, responsive: true, maintainAspectRatio: false, parsing: { xAxisKey: "x", yAxisKey: "y" },
      scales: { x: { title: { display: true, text: "first principal direction (no unit)" } },
                y: { title: { display: true, text: "second principal direction (no unit)" } } },
      plugins: {
        legend: { position: "right" },
        tooltip: { callbacks: { label: (item) => {
          const p = item.raw;
          if (p.query) return `query “${p.query}”`;
          const sentiment = p.sentiment === null ? "no labelled review" : `sentiment ${p.sentiment} (${p.reviews} reviews)`;
          return `${p.title} · ${p.category || "no category"} · ${sentiment}`;
        } } },
      },
      onClick: (_event, elements) => {
        const hit = elements.map((e) => chart.data.datasets[e.datasetIndex].data[e.index]).find((p) => p.id);
        if (hit && productUrl) window.location.href = `${productUrl}${encodeURIComponent(hit.id)}/`;
      },
    },
  });
  canvas.dataset.drawn = String(points.length);  // the browser test reads it

  document.getElementById("map-colour").addEventListener("change", (event) => {
    chart.data.datasets = datasets(event.target.value);
    chart.update();
  });

  const form = document.getElementById("map-search"), status = document.getElementById("map-query-status");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const q = form.elements.q.value;
    status.textContent = "…";
    fetch(`${form.dataset.url}?q=${encodeURIComponent(q)}`, { headers: { Accept: "application/json" } })
      .then((response) => response.json().then((body) => ({ ok: response.ok, body })))
      .then(({ ok, body }) => {
        if (!ok) { status.textContent = body.detail; return; }
        query = body;
        nearest = new Set(body.nearest);
        status.textContent = `placed at (${body.x.toFixed(3)}, ${body.y.toFixed(3)}); its ${body.nearest.length} nearest products by the full vectors are ringed`;
        chart.data.datasets = datasets(document.getElementById("map-colour").value);
        chart.update();
      })
      .catch((error) => { status.textContent = String(error); });
  });
})();
