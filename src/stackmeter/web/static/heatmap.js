// Draws the heat map strips: one canvas per entity, one cell per window, coloured by mean utilization.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("heatmap-data").textContent);
  const stops = [[0, [247, 251, 255]], [0.5, [254, 217, 118]], [0.8, [240, 59, 32]], [1, [128, 0, 38]]];

  function colour(u) {
    if (u === null) return "#e9ecef";
    const x = Math.max(0, Math.min(1, u));
    for (let i = 1; i < stops.length; i++) {
      const [x1, c1] = stops[i];
      const [x0, c0] = stops[i - 1];
      if (x <= x1) {
        const t = (x - x0) / (x1 - x0);
        const c = c0.map((v, k) => Math.round(v + t * (c1[k] - v)));
        return `rgb(${c[0]},${c[1]},${c[2]})`;
      }
    }
    return "rgb(128,0,38)";
  }

  function draw(canvas) {
    const row = data.rows[Number(canvas.dataset.row)];
    const n = data.columns.length;
    const width = canvas.clientWidth;
    const ratio = window.devicePixelRatio || 1;
    canvas.width = Math.max(1, Math.round(width * ratio));
    canvas.height = Math.round(14 * ratio);
    const ctx = canvas.getContext("2d");
    ctx.scale(ratio, ratio);
    const cell = width / n;
    for (let i = 0; i < n; i++) {
      ctx.fillStyle = colour(row.u[i]);
      ctx.fillRect(i * cell, 0, Math.ceil(cell), 14);
      if (row.o[i]) {
        ctx.fillStyle = "#111";
        ctx.fillRect(i * cell, 11, Math.ceil(cell), 3);
      }
    }
  }

  const tip = document.getElementById("tip");
  function show(event) {
    const canvas = event.target;
    const row = data.rows[Number(canvas.dataset.row)];
    const i = Math.floor((event.offsetX / canvas.clientWidth) * data.columns.length);
    if (i < 0 || i >= data.columns.length) return;
    const u = row.u[i];
    tip.textContent = `${row.entity} · ${data.columns[i]} · ` +
      (u === null ? "no samples" : `mean ${(100 * u).toFixed(1)}%`) + (row.o[i] ? " · overloaded" : "");
    tip.style.left = `${event.clientX + 12}px`;
    tip.style.top = `${event.clientY + 12}px`;
    tip.hidden = false;
  }

  const canvases = document.querySelectorAll("canvas[data-row]");
  function drawAll() { canvases.forEach(draw); }
  canvases.forEach((canvas) => {
    canvas.addEventListener("mousemove", show);
    canvas.addEventListener("mouseleave", () => { tip.hidden = true; });
  });
  drawAll();
  window.addEventListener("resize", drawAll);

  const legend = document.getElementById("legend");
  const ctx = legend.getContext("2d");
  for (let x = 0; x < legend.width; x++) {
    ctx.fillStyle = colour(x / (legend.width - 1));
    ctx.fillRect(x, 0, 1, legend.height);
  }
  document.body.dataset.heatmapDrawn = String(canvases.length);
})();
