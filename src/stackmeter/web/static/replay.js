// Draws the replay page's timelines: hosts active, energy, hosts overloaded (and out of memory) per decision step, one
// line per policy (Okabe–Ito colours). Reads #replay-data (export.replay_jsonable with steps).
(function () {
  "use strict";
  const f = window.stackmeterFormat;
  const data = JSON.parse(document.getElementById("replay-data").textContent);
  const COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#000000"];
  const policies = data.policies;
  if (!policies.length) return;
  const seconds = (text) => Date.parse(text) / 1000;
  // Every policy steps on the same grid, but a run may stop early: plot over the longest.
  const longest = policies.reduce((a, b) => (b.steps.time.length > a.steps.time.length ? b : a));
  const x = longest.steps.time.map(seconds);
  const column = (policy, field) => x.map((_, i) => (i < policy.steps[field].length ? policy.steps[field][i] : null));
  const plots = {};

  function draw(id, field, value, whole) {
    const box = document.getElementById(id);
    const plot = new uPlot({
      ...f.utcOptions(),
      width: Math.max(320, box.clientWidth - 4),
      height: 220,
      padding: [8, 30, 0, 0],
      scales: { x: { time: true }, y: { range: (u, lo, hi) => [0, Math.max(hi, whole ? 1 : 1e-9)] } },
      // Counts of hosts have whole ticks only.
      axes: [f.timeAxis(), { size: 60, values: (u, splits) => splits.map((v) => (!whole || Number.isInteger(v) ? String(v) : "")) }],
      series: [f.timeSeries(), ...policies.map((p, i) => ({ label: p.policy, stroke: COLOURS[i % COLOURS.length], width: 2, value }))],
    }, [x, ...policies.map((p) => column(p, field))], box);
    plots[field] = plot;
  }

  const count = (u, v) => (v === null || v === undefined ? "-" : String(v));
  const kwh = (u, v) => (v === null || v === undefined ? "-" : `${v.toFixed(3)} kWh`);
  draw("chart-hosts", "hosts_active", count, true);
  draw("chart-energy", "energy_kwh", kwh, false);
  draw("chart-overloaded", "hosts_overloaded", count, true);
  if (document.getElementById("chart-memory")) draw("chart-memory", "hosts_memory_overloaded", count, true);
  window.stackmeterReplayPlots = plots;
  document.body.dataset.replayDrawn = String(x.length);
})();
