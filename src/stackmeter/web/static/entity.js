// Plots an entity's mean and max utilization per window for each resource, with θ and overloaded windows,
// and the used values of each resource without capacity (which the overload rule cannot judge).
// Times are ISO UTC 24 h and utilization is in % (window.stackmeterFormat, format.js). Each chart's canvas
// is an image named by what it shows, for screen readers; the summary table above holds its numbers.
(function () {
  "use strict";
  const f = window.stackmeterFormat;
  // Okabe–Ito (Okabe and Ito 2008), told apart with every common kind of colour-blindness; the three
  // used here also stand 3:1 or more against the white chart (WCAG's contrast for graphics).
  const COLOURS = { mean: "#0072B2", max: "#D55E00", theta: "#000000", overloaded: "#000000" };
  const charts = JSON.parse(document.getElementById("entity-data").textContent);
  const root = document.getElementById("charts");
  const plots = [];
  const usedPlots = [];

  // Windows without samples are absent from the data: put a null where a gap is, so lines break there.
  // Points at the ends of the page's span (nulls but θ) let θ run across the whole axis, even when
  // there is one window only.
  const span = charts.span;

  function withGaps(chart, fields) {
    const x = chart.window;
    const steps = x.slice(1).map((t, i) => t - x[i]).sort((a, b) => a - b);
    const step = steps.length ? steps[Math.floor(steps.length / 2)] : 0;
    const out = { x: [] };
    fields.forEach((name) => { out[name] = []; });
    const push = (t, i) => {
      out.x.push(t);
      fields.forEach((name) => out[name].push(i === null ? null : chart[name][i]));
    };
    if (x.length && span[0] < x[0]) push(span[0], null);
    x.forEach((t, i) => {
      if (i > 0 && step && t - x[i - 1] > 1.5 * step) push(x[i - 1] + step, null);
      push(t, i);
    });
    const end = span[1];
    if (x.length && end > x[x.length - 1]) push(end, null);
    return out;
  }

  function labelWidth(u, labels) {
    return labels && labels.length ? 24 + 7.5 * Math.max(...labels.map((label) => String(label).length)) : 50;
  }

  // The x scale spans the windows shown, from the first's start to the last's end: one window fills the
  // axis instead of sitting in years of automatic padding.
  const timeScale = () => ({ time: true, range: () => [span[0], span[1]] });
  // Few windows: larger points, so that a single window's values stand out at the axis' edge.
  const pointSize = (chart) => (chart.window.length <= 3 ? 9 : 5);

  function chartBox(resource, heading) {
    const box = document.createElement("div");
    box.className = "chart";
    box.dataset.resource = resource;
    const title = document.createElement("h2");
    title.textContent = heading;
    box.appendChild(title);
    root.appendChild(box);
    return box;
  }

  // The chart's canvas as an image with a name: its heading, the span, and its numbers in a sentence.
  function nameCanvas(plot, heading, text) {
    const canvas = plot.root.querySelector("canvas");
    canvas.setAttribute("role", "img");
    const from = f.formatTime(span[0]);
    const to = f.formatTime(span[1]);
    canvas.setAttribute("aria-label", `${heading}, ${from} to ${to} (UTC): ${text}`);
  }

  const maxOf = (values) => Math.max(...values.filter((v) => v !== null && v !== undefined));

  const width = () => Math.max(320, root.clientWidth - 20);
  // Room on the right for the last time label, which sits on the axis' end.
  const padding = [8, 40, 0, 0];

  charts.judged.forEach((chart) => {
    const box = chartBox(chart.resource, `${chart.resource} utilization (θ = ${f.formatPercent(chart.threshold, 0)})`);
    const d = withGaps(chart, ["mean", "max", "overloaded"]);
    const theta = d.x.map(() => chart.threshold);
    const over = d.x.map((t, i) => (d.overloaded[i] ? d.max[i] : null));
    const options = {
      ...f.utcOptions(),
      width: width(),
      height: 220,
      padding,
      scales: { x: timeScale(), y: { range: (u, lo, hi) => [0, Math.max(1.05, hi * 1.05, chart.threshold * 1.1)] } },
      // Wide enough for the longest tick label: a disk can run at thousands of percent of its capacity.
      axes: [f.timeAxis(), f.percentAxis({ size: labelWidth })],
      series: [
        f.timeSeries(),
        { label: "mean", stroke: COLOURS.mean, width: 1, value: f.percentValue, points: { size: pointSize(chart) } },
        { label: "max", stroke: COLOURS.max, width: 1, value: f.percentValue, points: { size: pointSize(chart) } },
        { label: "θ", stroke: COLOURS.theta, width: 1, dash: [6, 4], points: { show: false }, value: f.percentValue },
        {
          label: "overloaded", stroke: COLOURS.overloaded, fill: COLOURS.overloaded, paths: () => null,
          points: { show: true, size: pointSize(chart) - 2 },
          // idx is null while the cursor is off the chart: say nothing rather than "no".
          value: (u, v, si, idx) => (idx === null || idx === undefined ? "-" : v === null ? "no" : "yes"),
        },
      ],
    };
    const plot = new uPlot(options, [d.x, d.mean, d.max, theta, over], box);
    const overloaded = chart.overloaded.filter(Boolean).length;
    nameCanvas(plot, box.firstChild.textContent, `${overloaded} of ${chart.window.length} windows overloaded, ` +
      `highest max ${f.formatPercent(chart.window.length ? maxOf(chart.max) : null)}`);
    plots.push({ resource: chart.resource, plot });
  });

  // Used values in their unit: bytes and bytes/s with binary prefixes, cores or MHz as numbers.
  function formatUsed(value, unit) {
    if (value === null || value === undefined || !Number.isFinite(value)) return "-";
    if (unit !== "bytes" && unit !== "bytes/s") return `${Number(value.toPrecision(3))}`;
    const prefixes = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let scaled = Math.abs(value);
    let i = 0;
    while (scaled >= 1024 && i < prefixes.length - 1) { scaled /= 1024; i += 1; }
    const text = `${value < 0 ? "-" : ""}${scaled.toFixed(scaled < 10 && i ? 1 : 0)} ${prefixes[i]}`;
    return unit === "bytes/s" ? `${text}/s` : text;
  }

  // Tick steps of a bytes axis in powers of 1024 (1, 2, 5, … KiB, MiB), so ticks fall on round binary values.
  function incrsOf(unit) {
    if (unit !== "bytes" && unit !== "bytes/s") return {};
    const steps = [];
    for (let k = 0; k <= 5; k += 1) [1, 2, 5, 10, 20, 50, 100, 200, 500].forEach((m) => steps.push(m * 1024 ** k));
    return { incrs: steps };
  }

  charts.unjudged.forEach((chart) => {
    const box = chartBox(chart.resource, `${chart.resource} used (${chart.unit}): no capacity, cannot judge overload`);
    const d = withGaps(chart, ["mean", "max"]);
    const used = (u, v) => formatUsed(v, chart.unit);
    const options = {
      ...f.utcOptions(),
      width: width(),
      height: 180,
      padding,
      scales: { x: timeScale(), y: { range: (u, lo, hi) => [0, hi > 0 ? hi * 1.05 : 1] } },
      axes: [f.timeAxis(), Object.assign(
        { values: (u, ticks) => ticks.map((v) => formatUsed(v, chart.unit)), size: labelWidth }, incrsOf(chart.unit),
      )],
      series: [
        f.timeSeries(),
        { label: "mean used", stroke: COLOURS.mean, width: 1, value: used, points: { size: pointSize(chart) } },
        { label: "max used", stroke: COLOURS.max, width: 1, value: used, points: { size: pointSize(chart) } },
      ],
    };
    const plot = new uPlot(options, [d.x, d.mean, d.max], box);
    nameCanvas(plot, box.firstChild.textContent, `${chart.window.length} windows, ` +
      `highest max ${chart.window.length ? formatUsed(maxOf(chart.max), chart.unit) : "-"}`);
    usedPlots.push({ resource: chart.resource, unit: chart.unit, plot });
  });
  // The plots, so that what they draw can be read back (the browser tests compare it with the API).
  window.stackmeterPlots = plots;
  window.stackmeterUsedPlots = usedPlots;
  document.body.dataset.chartsDrawn = String(plots.length + usedPlots.length);
})();
