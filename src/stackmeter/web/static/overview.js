// Draws the overview's fleet chart: how many entities were overloaded per window, one line per resource,
// partial windows shaded (they are left out of "latest complete" and of the trend). Reads #fleet-data
// (web/overview.py fleet_chart). Times are ISO UTC 24 h (format.js); colours are Okabe–Ito.
(function () {
  "use strict";
  const f = window.stackmeterFormat;
  const data = JSON.parse(document.getElementById("fleet-data").textContent);
  const box = document.getElementById("fleet-chart");
  if (!data || !box) return;  // nothing to chart: the page says so
  const COLOURS = { cpu: "#0072B2", memory: "#D55E00", disk: "#009E73", network: "#CC79A7" };
  const x = data.window;
  const end = data.ends.length ? data.ends[data.ends.length - 1] : 0;

  // Grey bands behind the partial windows, drawn before the lines.
  function shadePartial(u) {
    const ctx = u.ctx;
    ctx.save();
    ctx.fillStyle = "rgba(95, 107, 118, 0.16)";
    data.complete.forEach((complete, i) => {
      if (complete) return;
      const left = u.valToPos(x[i], "x", true);
      const right = u.valToPos(data.ends[i], "x", true);
      ctx.fillRect(left, u.bbox.top, Math.max(1, right - left), u.bbox.height);
    });
    ctx.restore();
  }

  const counts = (u, v) => (v === null || v === undefined ? "-" : String(v));
  const options = {
    ...f.utcOptions(),
    width: Math.max(320, box.clientWidth - 4),
    height: 260,
    padding: [10, 40, 0, 0],
    scales: { x: { time: true, range: () => [x[0], end] }, y: { range: (u, lo, hi) => [0, Math.max(1, hi)] } },
    axes: [f.timeAxis(), { label: "overloaded entities", values: (u, splits) => splits.map((v) => (Number.isInteger(v) ? String(v) : "")) }],
    series: [f.timeSeries(), ...data.series.map((s) => ({
      label: s.resource, stroke: COLOURS[s.resource] || "#000000", width: 2, value: counts,
      points: { show: x.length <= 60, size: 5 },
    }))],
    hooks: { drawClear: [shadePartial] },
  };
  const plot = new uPlot(options, [x, ...data.series.map((s) => s.overloaded)], box);
  window.stackmeterFleetPlot = plot;
  document.body.dataset.fleetDrawn = String(x.length);
})();
