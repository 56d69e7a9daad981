// The analytics page's two charts (Chart.js, vendored): searches per day, and latency p50/p95 per day.
(function () {
  const data = JSON.parse(document.getElementById("per-day-data").textContent);
  if (!window.Chart || !data.rows.length) return;
  const column = (name) => data.rows.map((row) => row[data.columns.indexOf(name)]);
  const days = column("day");
  new Chart(document.getElementById("searches-chart"), {
    type: "bar",
    data: { labels: days, datasets: [
      { label: "searches", data: column("searches") },
      { label: "found nothing", data: column("zero_result_searches") },
    ] },
    options: { animation: false, responsive: true, maintainAspectRatio: false, scales: { y: { beginAtZero: true, title: { display: true, text: "searches" } } } },
  });
  new Chart(document.getElementById("latency-chart"), {
    type: "line",
    data: { labels: days, datasets: [
      { label: "p50 ms", data: column("latency_p50_ms") },
      { label: "p95 ms", data: column("latency_p95_ms") },
    ] },
    options: { animation: false, responsive: true, maintainAspectRatio: false, scales: { y: { type: "logarithmic", title: { display: true, text: "milliseconds (log scale)" } } } },
  });
})();
