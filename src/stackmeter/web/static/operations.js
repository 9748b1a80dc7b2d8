// Plots one operation's p50 and p95 duration per window, with the fleet's mean CPU utilization on a second axis.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("operation-data").textContent);
  const box = document.getElementById("operation-chart");
  const seconds = (u, v) => (v === null ? "-" : `${v.toFixed(1)} s`);
  const percent = (u, v) => (v === null ? "-" : `${(100 * v).toFixed(1)}%`);
  const options = {
    width: Math.max(320, box.clientWidth - 20),
    height: 240,
    scales: { x: { time: true }, s: {}, cpu: { range: [0, 1] } },
    axes: [
      {},
      { scale: "s", values: (u, ticks) => ticks.map((v) => `${v} s`) },
      { scale: "cpu", side: 1, grid: { show: false }, values: (u, ticks) => ticks.map((v) => `${Math.round(v * 100)}%`) },
    ],
    series: [
      {},
      { label: "p50", scale: "s", stroke: "#0b5cad", width: 1, value: seconds },
      { label: "p95", scale: "s", stroke: "#f08c00", width: 1, value: seconds },
      { label: "fleet cpu", scale: "cpu", stroke: "#5f6b76", dash: [4, 3], width: 1, value: percent },
    ],
  };
  new uPlot(options, [data.window, data.p50, data.p95, data.cpu], box);
  document.body.dataset.chartsDrawn = "1";
})();
