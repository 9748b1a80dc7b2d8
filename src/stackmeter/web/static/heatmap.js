// Draws the heat map: one canvas strip per entity, one cell per window coloured by mean utilization
// (viridis, readable with colour-blindness), a hatched grey where a window has no samples, a time axis of
// window starts (ISO UTC 24 h, thinned to fit) above and below, and a tip with the window's numbers.
// Each strip is also a keyboard slider over its windows (arrows, Home, End): the focused window is
// outlined, the tip shows under it, and its numbers are the slider's aria-valuetext for screen readers.
(function () {
  "use strict";
  const f = window.stackmeterFormat;
  const data = JSON.parse(document.getElementById("heatmap-data").textContent);
  const starts = data.columns.map((iso) => Date.parse(iso) / 1000);
  const ends = data.ends.map((iso) => Date.parse(iso) / 1000);
  const n = starts.length;
  // Viridis (matplotlib's, sampled at ninths): perceptually uniform, and ordered in lightness for
  // every kind of colour vision; 0 % is its darkest purple, so no-data is a light hatched grey.
  const stops = [
    [68, 1, 84], [71, 45, 123], [59, 82, 139], [44, 114, 142], [33, 145, 140],
    [40, 174, 128], [94, 201, 98], [173, 220, 48], [253, 231, 37],
  ];
  const NO_DATA = "rgb(238,240,243)";
  const NO_DATA_HATCH = "rgb(176,184,194)";
  const STRIP_PX = 14;

  function colour(u) {
    if (u === null) return NO_DATA;
    const x = Math.max(0, Math.min(1, u)) * (stops.length - 1);
    const i = Math.min(stops.length - 2, Math.floor(x));
    const t = x - i;
    const c = stops[i].map((v, k) => Math.round(v + t * (stops[i + 1][k] - v)));
    return `rgb(${c[0]},${c[1]},${c[2]})`;
  }

  // A small diagonal hatch, so that "no samples" never reads as a colour of the scale.
  function hatch(ctx) {
    const tile = document.createElement("canvas");
    tile.width = 6;
    tile.height = 6;
    const t = tile.getContext("2d");
    t.fillStyle = NO_DATA;
    t.fillRect(0, 0, 6, 6);
    t.strokeStyle = NO_DATA_HATCH;
    t.lineWidth = 1;
    t.beginPath();
    t.moveTo(0, 6);
    t.lineTo(6, 0);
    t.stroke();
    return ctx.createPattern(tile, "repeat");
  }

  function draw(canvas) {
    const row = data.rows[Number(canvas.dataset.row)];
    const focused = canvas.dataset.keyboard ? Number(canvas.getAttribute("aria-valuenow")) : null;
    const width = canvas.clientWidth;
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.max(1, Math.round(width * ratio));
    canvas.height = Math.round(STRIP_PX * ratio);
    const ctx = canvas.getContext("2d");
    ctx.scale(ratio, ratio);
    const gap = hatch(ctx);
    const cell = width / n;
    for (let i = 0; i < n; i++) {
      ctx.fillStyle = row.u[i] === null ? gap : colour(row.u[i]);
      ctx.fillRect(i * cell, 0, Math.ceil(cell), STRIP_PX);
      if (row.o[i]) {
        // Black on a white edge: visible on the dark and the light end of the scale alike.
        ctx.fillStyle = "#fff";
        ctx.fillRect(i * cell, STRIP_PX - 5, Math.ceil(cell), 5);
        ctx.fillStyle = "#111";
        ctx.fillRect(i * cell, STRIP_PX - 4, Math.ceil(cell), 4);
      }
    }
    if (focused !== null) outline(ctx, focused * cell, Math.max(cell, 3));
  }

  // The window a keyboard user is on: black inside white, seen on both ends of the scale.
  function outline(ctx, x, w) {
    ctx.lineWidth = 2;
    ctx.strokeStyle = "#fff";
    ctx.strokeRect(x + 1, 1, w - 2, STRIP_PX - 2);
    ctx.lineWidth = 1;
    ctx.strokeStyle = "#000";
    ctx.strokeRect(x + 2.5, 2.5, w - 5, STRIP_PX - 5);
  }

  // --- the time axis ------------------------------------------------------------------------
  // Spans that make round labels (5 min … 52 weeks); a timescale takes those that are whole windows.
  const NICE_S = [300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800,
    1209600, 2419200, 7862400, 15724800, 31449600];
  const NICE_MONTHS = [1, 2, 3, 6, 12, 24, 60, 120];

  function labelOf(seconds) {
    if (data.months) return f.formatTime(seconds, "month");
    if (data.window_s >= 86400) return f.formatTime(seconds, "day");
    return f.formatTime(seconds);
  }

  // The window's index counted from the epoch, so that labels fall on round times.
  function absoluteIndex(seconds) {
    if (data.months) {
      const d = new Date(seconds * 1000);
      return d.getUTCFullYear() * 12 + d.getUTCMonth();
    }
    return Math.round((seconds + data.offset_s) / data.window_s);
  }

  function steps() {
    if (data.months) return NICE_MONTHS.filter((m) => m % data.months === 0).map((m) => m / data.months);
    return NICE_S.filter((s) => s % data.window_s === 0).map((s) => s / data.window_s);
  }

  /** Columns to label: every `step`-th window on a round time, `step` the smallest that fits. */
  function ticks(widthPx, labelPx) {
    const cell = widthPx / n;
    const options = steps();
    const step = options.find((s) => s * cell >= labelPx + 10) || Math.ceil((labelPx + 10) / cell);
    // Steps of whole weeks of shorter windows label Mondays, as weeks start (1970-01-01 was a Thursday).
    const week = !data.months && data.window_s < 604800 && (step * data.window_s) % 604800 === 0;
    const first = absoluteIndex(starts[0]) + (week ? 259200 / data.window_s : 0);
    const chosen = [];
    for (let i = 0; i < n; i++) {
      if ((first + i) % step === 0 && i * cell + labelPx <= widthPx) chosen.push(i);
    }
    // Too few round times on the page (a short one): label its first window at least.
    if (!chosen.length && n) chosen.push(0);
    return chosen;
  }

  function drawAxis(axis) {
    if (!axis || !n) return;
    axis.textContent = "";
    const width = axis.clientWidth;
    const probe = document.createElement("span");
    probe.className = "tick";
    probe.textContent = labelOf(starts[0]);
    axis.appendChild(probe);
    const labelPx = probe.getBoundingClientRect().width;
    axis.removeChild(probe);
    const cell = width / n;
    ticks(width, labelPx).forEach((i) => {
      const tick = document.createElement("span");
      tick.className = "tick";
      tick.dataset.column = String(i);
      tick.dataset.window = data.columns[i];
      tick.style.left = `${i * cell}px`;
      tick.textContent = labelOf(starts[i]);
      axis.appendChild(tick);
    });
  }

  // --- the tip ------------------------------------------------------------------------------
  const tip = document.getElementById("tip");

  function describe(row, i) {
    const lines = [row.entity, `${f.formatTimeRange(starts[i], ends[i])} (UTC)`];
    if (row.u[i] === null) {
      lines.push("no samples in this window");
      return lines.join("\n");
    }
    const samples = row.n[i];
    const hot = row.h[i];
    lines.push(`mean ${f.formatPercent(row.u[i])} · ${samples} sample${samples === 1 ? "" : "s"}`);
    lines.push(`≥ θ ${f.formatPercent(data.threshold)}: ${hot} of ${samples} (${f.formatPercent(samples ? hot / samples : null)})`);
    lines.push(`overloaded: ${row.o[i] ? "yes" : "no"} (needs ≥ ${f.formatPercent(data.share)} of samples ≥ θ)`);
    return lines.join("\n");
  }

  /** Shows the tip of window `i` of `canvas`'s row near the point (x, y) of the viewport. */
  function showTip(canvas, i, x, y) {
    tip.textContent = describe(data.rows[Number(canvas.dataset.row)], i);
    tip.dataset.column = String(i);
    tip.hidden = false;
    // Keep the tip inside the window: to the left of the point near the right edge.
    const left = x + 12 + tip.offsetWidth > window.innerWidth ? x - 12 - tip.offsetWidth : x + 12;
    tip.style.left = `${Math.max(0, left)}px`;
    tip.style.top = `${y + 12}px`;
  }

  function show(event) {
    const i = Math.floor((event.offsetX / event.target.clientWidth) * n);
    if (i < 0 || i >= n) return;
    showTip(event.target, i, event.clientX, event.clientY);
  }

  // --- the keyboard -------------------------------------------------------------------------
  // A slider's value is the window shown; its text, for screen readers, is what the tip says.
  function choose(canvas, i) {
    canvas.setAttribute("aria-valuenow", String(i));
    canvas.setAttribute("aria-valuetext", describe(data.rows[Number(canvas.dataset.row)], i).replace(/\n/g, "; "));
  }

  function showFocused(canvas) {
    const i = Number(canvas.getAttribute("aria-valuenow"));
    canvas.dataset.keyboard = "1";
    draw(canvas);
    const box = canvas.getBoundingClientRect();
    showTip(canvas, i, box.left + ((i + 0.5) * box.width) / n, box.bottom - 12);
  }

  const KEY_STEPS = { ArrowLeft: -1, ArrowDown: -1, ArrowRight: 1, ArrowUp: 1, PageDown: -10, PageUp: 10 };

  function onKey(event) {
    const canvas = event.target;
    const now = Number(canvas.getAttribute("aria-valuenow"));
    let next = null;
    if (event.key in KEY_STEPS) next = now + KEY_STEPS[event.key];
    else if (event.key === "Home") next = 0;
    else if (event.key === "End") next = n - 1;
    if (next === null) return;
    event.preventDefault();
    choose(canvas, Math.max(0, Math.min(n - 1, next)));
    showFocused(canvas);
  }

  // Focus from the keyboard outlines the chosen window; a click chooses the window clicked instead.
  function onFocus(event) {
    if (!event.target.matches(":focus-visible")) return;
    showFocused(event.target);
  }

  function onClick(event) {
    const i = Math.floor((event.offsetX / event.target.clientWidth) * n);
    if (i >= 0 && i < n) choose(event.target, i);
  }

  const canvases = document.querySelectorAll("canvas[data-row]");
  const axes = [document.getElementById("axis-top"), document.getElementById("axis-bottom")];
  function drawAll() {
    canvases.forEach(draw);
    // The axis under the table (outside it, so a page holds no more rows than entities) sits under the strips.
    if (axes[1] && canvases.length) {
      const strip = canvases[0].getBoundingClientRect();
      const parent = axes[1].parentElement.getBoundingClientRect();
      axes[1].style.marginLeft = `${strip.left - parent.left}px`;
      axes[1].style.width = `${strip.width}px`;
    }
    axes.forEach(drawAxis);
  }
  canvases.forEach((canvas) => {
    canvas.addEventListener("mousemove", show);
    canvas.addEventListener("mouseleave", () => { tip.hidden = true; });
    if (n) choose(canvas, Number(canvas.getAttribute("aria-valuenow")));
    canvas.addEventListener("keydown", onKey);
    canvas.addEventListener("focus", onFocus);
    canvas.addEventListener("click", onClick);
    canvas.addEventListener("blur", () => {
      tip.hidden = true;
      delete canvas.dataset.keyboard;
      draw(canvas);
    });
  });
  drawAll();
  window.addEventListener("resize", drawAll);

  const legend = document.getElementById("legend");
  const ctx = legend.getContext("2d");
  for (let x = 0; x < legend.width; x++) {
    ctx.fillStyle = colour(x / (legend.width - 1));
    ctx.fillRect(x, 0, 1, legend.height);
  }
  // For scripts and tests: the colour of a mean utilization, and of a window without samples.
  window.stackmeterHeatmap = { colour, noData: NO_DATA, describe: (r, i) => describe(data.rows[r], i) };
  document.body.dataset.heatmapDrawn = String(canvases.length);
})();
