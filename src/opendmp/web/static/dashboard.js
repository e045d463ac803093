// Draws the deployment dashboard's charts from its JSON data (no inline script: CSP script-src 'self').
(function () {
  "use strict";
  var script = document.getElementById("dashboard-script");
  if (!script || typeof Chart === "undefined") { return; }
  var lang = script.getAttribute("data-lang") || "fr";
  var locale = lang === "en" ? "en-GB" : "fr-FR";
  var palette = ["#3558a5", "#e07b39", "#2e9c6a", "#b23a48", "#7a5cc2", "#c9a227", "#4aa3c9", "#777777"];
  var number = new Intl.NumberFormat(locale);
  var texts = {
    fr: { opened: "DMP ouverts (cumul)", target: "Cible" },
    en: { opened: "Records opened (cumulative)", target: "Target" }
  }[lang] || { opened: "DMP ouverts (cumul)", target: "Cible" };

  function axes(stacked) {
    return {
      x: { stacked: stacked },
      y: { stacked: stacked, beginAtZero: true, ticks: { callback: function (v) { return number.format(v); } } }
    };
  }
  function options(stacked) {
    return {
      responsive: true, maintainAspectRatio: false, animation: false, locale: locale, scales: axes(stacked),
      plugins: { tooltip: { callbacks: { label: function (c) { return c.dataset.label + " : " + number.format(c.parsed.y); } } } }
    };
  }
  function stacked(canvasId, rows, field, keys, labels) {
    var canvas = document.getElementById(canvasId);
    if (!canvas) { return; }
    new Chart(canvas, {
      type: "bar",
      data: {
        labels: rows.map(function (r) { return r.label; }),
        datasets: keys.map(function (key, i) {
          return {
            label: labels[key] || key, backgroundColor: palette[i % palette.length],
            data: rows.map(function (r) { return r[field][key] || 0; })
          };
        })
      },
      options: options(true)
    });
  }

  fetch(script.getAttribute("data-source"), { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (answer) { if (!answer.ok) { throw new Error(answer.status); } return answer.json(); })
    .then(function (f) {
      stacked("chart-weekly", f.weekly, "byChannel", Object.keys(f.openedByChannel), f.channelLabels);
      stacked("chart-documents", f.documents.weekly, "bySource", Object.keys(f.documents.bySource), f.documents.sourceLabels);
      var canvas = document.getElementById("chart-cumulative");
      if (canvas) {
        new Chart(canvas, {
          type: "line",
          data: {
            labels: f.weekly.map(function (w) { return w.label; }),
            datasets: [
              { label: texts.opened, data: f.weekly.map(function (w) { return w.cumulative; }), borderColor: palette[0], pointRadius: 0, fill: false },
              { label: texts.target, data: f.weekly.map(function () { return f.target; }), borderColor: palette[3], borderDash: [6, 4], pointRadius: 0, fill: false }
            ]
          },
          options: options(false)
        });
      }
    })
    .catch(function () { /* the tables and figures above stay readable without the charts */ });
}());
