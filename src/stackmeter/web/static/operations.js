// Plots the operations page's charts: duration percentiles per window (one operation's p50/p95/p99, or the
// p95 of the most frequent operations), and the failure rate beside the fleet's mean CPU utilization.
(function () {
  "use strict";
  const f = window.stackmeterFormat;
  const data = JSON.parse(document.getElementById("operation-data").textContent);
  // Okabe–Ito: told apart with every kind of colour vision.
  const COLOURS = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00"];
  const plots = [];
  // One window alone spans its own length (uPlot would stretch one point over years otherwise).
  const windowS = Number(document.getElementById("charts").dataset.windowS);
  const timeScale = () => (data.window.length === 1 && windowS > 0
    ? { time: true, range: () => [data.window[0], data.window[0] + windowS] } : { time: true });

  function plot(box, series, values, yAxis) {
    const options = Object.assign(f.utcOptions(), {
      width: Math.max(320, box.clientWidth - 12),
      height: 240,
      padding: [null, 34, null, null], // room for the date under the last tick
      scales: { x: timeScale(), y: yAxis.range ? { range: yAxis.range } : {} },
      axes: [f.timeAxis(), yAxis.axis],
      series: [f.timeSeries(), ...series],
    });
    const made = new uPlot(options, [data.window, ...values], box);
    plots.push({ id: box.id, plot: made });
    return made;
  }

  const durationBox = document.getElementById("operation-chart");
  plot(
    durationBox,
    data.durations.map((line, i) => ({
      label: line.label, stroke: COLOURS[i % COLOURS.length], width: 1.5, value: f.durationValue, spanGaps: false,
    })),
    data.durations.map((line) => line.values),
    // From 0, so that a line's height reads as a duration.
    { axis: f.durationAxis(), range: (u, lo, hi) => [0, Math.max(1, (hi || 0) * 1.05)] },
  );

  const failureBox = document.getElementById("failure-chart");
  plot(
    failureBox,
    [
      { label: "failure rate", stroke: "#D55E00", width: 1.5, value: f.percentValue },
      { label: "fleet cpu", stroke: "#5f6b76", dash: [4, 3], width: 1, value: f.percentValue },
    ],
    [data.failure, data.cpu],
    // As wide as the duration axis, so that both charts' windows line up.
    { axis: f.percentAxis({ size: 72 }), range: (u, lo, hi) => [0, Math.max(1, hi || 0)] },
  );

  function resize() {
    plots.forEach(({ id, plot: p }) => {
      const box = document.getElementById(id);
      p.setSize({ width: Math.max(320, box.clientWidth - 12), height: 240 });
    });
  }
  window.addEventListener("resize", resize);
  // The plots, so that what they draw can be read back (the browser tests do).
  window.stackmeterPlots = plots;
  document.body.dataset.chartsDrawn = String(plots.length);
})();
