// Dashboard charts from the figures the page embeds as JSON (a file of its own: the console's CSP has no inline scripts).
(function () {
  var data = JSON.parse(document.getElementById("dashboard-data").textContent);
  var days = Array.from(new Set(data.per_day.map(function (r) { return r.day; })));
  var channels = Array.from(new Set(data.per_day.map(function (r) { return r.channel; })));
  new Chart(document.getElementById("per-day"), { type: "bar", data: { labels: days, datasets: channels.map(function (c) {
    return { label: c, data: days.map(function (d) {
      var row = data.per_day.find(function (r) { return r.day === d && r.channel === c; }); return row ? row.count : 0; }) };
  }) }, options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } } });
  new Chart(document.getElementById("funnel"), { type: "bar", data: { labels: Object.keys(data.lead_funnel).map(function (s) { return data.lead_status_labels[s] || s; }),
    datasets: [{ label: "线索", data: Object.values(data.lead_funnel) }] }, options: { indexAxis: "y" } });
})();
