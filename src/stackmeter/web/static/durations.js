// Draws the operations page's duration histograms (plain SVG): one small chart per operation, a bar per
// duration bin counting the operations that took that long (ok and failed stacked), p50 and p95 marked.
// Every chart spans the same bins, from the first any operation fills to the last, so bars line up
// from chart to chart; each has its own count scale. Reads #duration-data (DurationHistogram's columns).
(function () {
  "use strict";
  const f = window.stackmeterFormat;
  const data = JSON.parse(document.getElementById("duration-data").textContent);
  const grid = document.getElementById("duration-charts");
  const tip = document.getElementById("duration-tip");
  const SVG = "http://www.w3.org/2000/svg";
  // Okabe–Ito: blue and vermillion are told apart with every kind of colour vision; marks in black.
  const OK = "#0072B2";
  const ERROR = "#D55E00";
  const MARK = "#000000";
  const MARGIN = { top: 18, right: 10, bottom: 34, left: 38 };
  const CHAR_PX = 6.4; // width of a character of the 11 px tick labels, to space them
  const edges = data.edges_s;
  const bins = edges.length;

  /** A bin edge as a round duration: "0 s", "100 ms", "5 s", "2 min", "1 d". */
  function edgeText(seconds) {
    return seconds === 0 ? "0 s" : f.formatDuration(seconds).replace(".0 s", " s");
  }

  /** A bin's range as text: "1 min – 2 min", the last one "1 d and over". */
  function binText(i) {
    return i + 1 < bins ? `${edgeText(edges[i])} – ${edgeText(edges[i + 1])}` : `${edgeText(edges[i])} and over`;
  }

  /** The first and last bin any operation fills. */
  function filledSpan() {
    const filled = [];
    for (let i = 0; i < bins; i++) {
      if (data.operations.some((_, k) => data.success[k][i] + data.error[k][i] > 0)) filled.push(i);
    }
    return [filled[0], filled[filled.length - 1]];
  }

  /** Where a duration lies on the axis, in bins from `first`: log-interpolated inside its bin (linear in the first, from 0 s). */
  function binPosition(seconds, first) {
    let i = bins - 1;
    while (i > 0 && edges[i] > seconds) i--;
    const lo = edges[i];
    const hi = i + 1 < bins ? edges[i + 1] : 2 * edges[i];
    const within = lo > 0 ? Math.log(seconds / lo) / Math.log(hi / lo) : seconds / hi;
    return i - first + Math.min(1, Math.max(0, within));
  }

  /** Round count ticks from 0 to at least `top`: steps of 1, 2 or 5 × 10^n, at most 4 of them. */
  function countTicks(top) {
    let step = 1;
    for (let scale = 1; ; scale *= 10) {
      step = [1, 2, 5].map((m) => m * scale).find((s) => top / s <= 4);
      if (step) break;
    }
    const ticks = [];
    for (let v = 0; v < top + step; v += step) ticks.push(v);
    return ticks;
  }

  function node(name, attributes, parent, text) {
    const made = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attributes)) made.setAttribute(key, value);
    if (text !== undefined) made.textContent = text;
    if (parent) parent.appendChild(made);
    return made;
  }

  /** What a screen reader says of one operation's chart; `marks` is the page's "p50 … · p95 …". */
  function summary(k, first, last, marks) {
    const name = data.operations[k];
    const ok = data.success[k].reduce((a, b) => a + b, 0);
    const failed = data.error[k].reduce((a, b) => a + b, 0);
    let fullest = first;
    for (let i = first; i <= last; i++) {
      if (data.success[k][i] + data.error[k][i] > data.success[k][fullest] + data.error[k][fullest]) fullest = i;
    }
    const most = data.success[k][fullest] + data.error[k][fullest];
    return `Durations of ${name}: ${ok} ok and ${failed} failed, most (${most}) took ${binText(fullest)}; ${marks}.`;
  }

  function draw(figure, k, first, last) {
    const old = figure.querySelector("svg");
    if (old) old.remove();
    const single = grid.classList.contains("single");
    const width = Math.max(260, figure.clientWidth - 10);
    const height = single ? 240 : 180;
    const plotW = width - MARGIN.left - MARGIN.right;
    const plotH = height - MARGIN.top - MARGIN.bottom;
    const span = last - first + 1;
    const bw = plotW / span;
    const counts = [];
    for (let i = first; i <= last; i++) counts.push(data.success[k][i] + data.error[k][i]);
    const ticks = countTicks(Math.max(1, ...counts));
    const top = ticks[ticks.length - 1];
    const x = (position) => MARGIN.left + position * bw;
    const y = (count) => MARGIN.top + plotH - (count / top) * plotH;
    const svg = node("svg", {
      width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": summary(k, first, last, figure.dataset.marks),
    });

    for (const v of ticks) {
      node("line", { class: "grid", x1: MARGIN.left, x2: width - MARGIN.right, y1: y(v), y2: y(v) }, svg);
      node("text", { class: "tick tick-y", x: MARGIN.left - 5, y: y(v) + 4, "text-anchor": "end" }, svg, String(v));
    }
    for (let i = first; i <= last; i++) {
      const ok = data.success[k][i];
      const failed = data.error[k][i];
      const left = x(i - first) + Math.min(1, bw * 0.08);
      const barW = Math.max(1, bw - 2 * Math.min(1, bw * 0.08));
      if (ok) node("rect", { class: "bar ok", x: left, y: y(ok), width: barW, height: y(0) - y(ok), fill: OK }, svg);
      if (failed) {
        node("rect", {
          class: "bar error", x: left, y: y(ok + failed), width: barW, height: y(ok) - y(ok + failed), fill: ERROR,
        }, svg);
      }
    }
    node("line", { class: "axis", x1: MARGIN.left, x2: width - MARGIN.right, y1: y(0), y2: y(0) }, svg);

    // Edge labels under the bars, every `stride`-th one so that they do not overlap.
    const longest = Math.max(...edges.slice(first, last + 2).map((s) => edgeText(s).length));
    const stride = Math.max(1, Math.ceil((longest * CHAR_PX + 6) / bw));
    for (let j = first; j <= Math.min(last + 1, bins - 1); j += stride) {
      const at = x(j - first);
      const text = edgeText(edges[j]);
      // Centred under its edge, or ending at the chart's right side when it would run past it.
      const past = at + (text.length * CHAR_PX) / 2 > width - 1;
      node("line", { class: "tick-mark", x1: at, x2: at, y1: y(0), y2: y(0) + 4 }, svg);
      node("text", {
        class: "tick tick-x", x: past ? width - 1 : at, y: y(0) + 16, "text-anchor": past ? "end" : "middle",
        "data-edge-s": edges[j],
      }, svg, text);
    }

    // p50 and p95 of the successful durations: solid and dashed black lines, labelled above the plot.
    const marks = [["p50", data.p50_s[k], null], ["p95", data.p95_s[k], "4 3"]];
    let previousX = -Infinity;
    for (const [label, seconds, dash] of marks) {
      if (seconds === null) continue;
      const at = x(binPosition(seconds, first));
      const line = { class: `mark ${label}`, x1: at, x2: at, y1: MARGIN.top - 2, y2: y(0), stroke: MARK, "data-seconds": seconds };
      if (dash) line["stroke-dasharray"] = dash;
      node("line", line, svg);
      // Left of its line; right of it when too close to the p50 label; never past the chart's edges.
      const right = at - previousX < 28 || at - 24 < 0;
      const start = Math.min(right ? at + 3 : at - 23, width - 22);
      node("text", { class: "mark-label", x: start, y: MARGIN.top - 6 }, svg, label);
      previousX = at;
    }

    // Hover targets, one per bin over the whole height, on top.
    for (let i = first; i <= last; i++) {
      node("rect", {
        class: "hit", x: x(i - first), y: MARGIN.top, width: bw, height: plotH, "data-bin": i,
        "data-success": data.success[k][i], "data-error": data.error[k][i],
      }, svg);
    }
    svg.addEventListener("mousemove", (event) => hover(event, k));
    svg.addEventListener("mouseleave", () => { tip.hidden = true; highlight(null); });
    figure.appendChild(svg);
  }

  let active = null;
  function highlight(hit) {
    if (active) active.classList.remove("active");
    active = hit;
    if (hit) hit.classList.add("active");
  }

  function hover(event, k) {
    const hit = event.target.closest(".hit");
    if (!hit) return;
    highlight(hit);
    const i = Number(hit.dataset.bin);
    tip.textContent = `${data.operations[k]}: ${binText(i)}\n${data.success[k][i]} ok, ${data.error[k][i]} failed`;
    tip.hidden = false;
    tip.style.left = `${event.clientX + 12}px`;
    tip.style.top = `${event.clientY + 12}px`;
  }

  const [first, last] = filledSpan();
  // The page wrote one figure per operation, in the data's order, with its caption.
  const figures = [...grid.querySelectorAll("figure.duration-chart")];
  const drawAll = () => figures.forEach((figure, k) => draw(figure, k, first, last));
  drawAll();
  let pending = 0;
  window.addEventListener("resize", () => {
    cancelAnimationFrame(pending);
    pending = requestAnimationFrame(drawAll);
  });
  document.body.dataset.durationsDrawn = String(figures.length);
})();
