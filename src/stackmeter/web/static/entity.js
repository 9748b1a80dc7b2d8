// Plots an entity's mean and max utilization per window for each resource, with θ and overloaded windows.
(function () {
  "use strict";
  const charts = JSON.parse(document.getElementById("entity-data").textContent);
  const root = document.getElementById("charts");
  const plots = [];

  // Windows without samples are absent from the data: put a null where a gap is, so lines break there.
  function withGaps(chart) {
    const x = chart.window;
    const steps = x.slice(1).map((t, i) => t - x[i]).sort((a, b) => a - b);
    const step = steps.length ? steps[Math.floor(steps.length / 2)] : 0;
    const out = { x: [], mean: [], max: [], over: [] };
    x.forEach((t, i) => {
      if (i > 0 && step && t - x[i - 1] > 1.5 * step) {
        out.x.push(x[i - 1] + step); out.mean.push(null); out.max.push(null); out.over.push(null);
      }
      out.x.push(t);
      out.mean.push(chart.mean[i]);
      out.max.push(chart.max[i]);
      out.over.push(chart.overloaded[i] ? chart.max[i] : null);
    });
    return out;
  }

  function labelWidth(u, labels) {
    return labels && labels.length ? 24 + 7.5 * Math.max(...labels.map((label) => String(label).length)) : 50;
  }

  charts.forEach((chart) => {
    const box = document.createElement("div");
    box.className = "chart";
    box.dataset.resource = chart.resource;
    const title = document.createElement("h2");
    title.textContent = `${chart.resource} (θ = ${chart.threshold})`;
    box.appendChild(title);
    root.appendChild(box);
    const d = withGaps(chart);
    const theta = d.x.map(() => chart.threshold);
    const options = {
      width: Math.max(320, root.clientWidth - 20),
      height: 220,
      scales: { x: { time: true }, y: { range: (u, lo, hi) => [0, Math.max(1.05, hi * 1.05, chart.threshold * 1.1)] } },
      // Wide enough for the longest tick label: a disk can run at thousands of percent of its capacity.
      axes: [{}, { values: (u, ticks) => ticks.map((v) => `${Math.round(v * 100)}%`), size: labelWidth }],
      series: [
        {},
        { label: "mean", stroke: "#0b5cad", width: 1, value: (u, v) => (v === null ? "-" : `${(100 * v).toFixed(1)}%`) },
        { label: "max", stroke: "#f08c00", width: 1, value: (u, v) => (v === null ? "-" : `${(100 * v).toFixed(1)}%`) },
        { label: "θ", stroke: "#b3261e", width: 1, dash: [6, 4], points: { show: false } },
        { label: "overloaded", stroke: "#111", fill: "#111", paths: () => null, points: { show: true, size: 5 } },
      ],
    };
    plots.push({ resource: chart.resource, plot: new uPlot(options, [d.x, d.mean, d.max, theta, d.over], box) });
  });
  // The plots, so that what they draw can be read back (the browser tests compare it with the API).
  window.stackmeterPlots = plots;
  document.body.dataset.chartsDrawn = String(charts.length);
})();
