// One convention for the pages' numbers and times: ISO UTC 24 h ("2013-08-01 14:00Z"), utilization and
// shares as %, durations with units. Load it before a page's own script; it defines window.stackmeterFormat.
//
//   const f = window.stackmeterFormat;
//   f.formatTime(1375365600)              // "2013-08-01 14:00Z"
//   f.formatTime(1375315200, "day")       // "2013-08-01"
//   f.formatTimeRange(1375365600, 1375369200) // "2013-08-01 14:00–15:00Z"
//   f.formatPercent(0.8)                  // "80.0%"    f.formatPercent(null) // "-"
//   f.formatDuration(4.25)                // "4.3 s"    f.formatDuration(250) // "4 min 10 s"
//   new uPlot({ ...f.utcOptions(), axes: [f.timeAxis(), f.percentAxis()],
//               series: [f.timeSeries(), { label: "mean", value: f.percentValue }] }, data, box);
//
// Every time is seconds since 1970-01-01 UTC (what uPlot plots); every fraction is a ratio (0.8 means 80 %).
(function () {
  "use strict";
  const MINUTE = 60;
  const HOUR = 3600;
  const DAY = 86400;
  const pad = (n) => String(n).padStart(2, "0");

  // Parts of a UTC time in seconds: [YYYY-MM-DD, HH:MM, SS].
  function parts(seconds) {
    const d = new Date(seconds * 1000);
    const date = `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
    return [date, `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`, pad(d.getUTCSeconds())];
  }

  /**
   * A UTC time as ISO 24 h text. precision: "minute" (default) "2013-08-01 14:00Z", "second"
   * "2013-08-01 14:00:05Z", "day" "2013-08-01", "month" "2013-08". null or undefined gives "-".
   */
  function formatTime(seconds, precision) {
    if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "-";
    const [date, hm, s] = parts(seconds);
    if (precision === "month") return date.slice(0, 7);
    if (precision === "day") return date;
    if (precision === "second") return `${date} ${hm}:${s}Z`;
    return `${date} ${hm}Z`;
  }

  /** A window [start, end) as text, the date written once if both ends share it: "2013-08-01 14:00–15:00Z". */
  function formatTimeRange(startS, endS) {
    const [d0, hm0] = parts(startS);
    const [d1, hm1] = parts(endS);
    if (d0 === d1) return `${d0} ${hm0}–${hm1}Z`;
    return `${d0} ${hm0}Z – ${d1} ${hm1}Z`;
  }

  /** A ratio as a percentage with `digits` decimals (default 1): 0.8 → "80.0%"; null gives "-". */
  function formatPercent(fraction, digits) {
    if (fraction === null || fraction === undefined || !Number.isFinite(fraction)) return "-";
    return `${(100 * fraction).toFixed(digits === undefined ? 1 : digits)}%`;
  }

  /**
   * Seconds with units, two units at most: 0.25 → "250 ms", 4.25 → "4.3 s", 250 → "4 min 10 s",
   * 90000 → "1 d 1 h". A value that rounds up to the next unit is written in it (119.6 → "2 min",
   * 86399 → "1 d"), as export.format_duration writes it on the server.
   */
  function formatDuration(seconds) {
    if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "-";
    const s = Math.abs(seconds);
    const sign = seconds < 0 ? "-" : "";
    if (s < 1 && Math.round(s * 1000) < 1000) return `${sign}${Math.round(s * 1000)} ms`;
    if (s < 10 && Math.round(s * 10) < 100) return `${sign}${(Math.round(s * 10) / 10).toFixed(1)} s`;
    if (s < MINUTE && Math.round(s) < MINUTE) return `${sign}${Math.round(s)} s`;
    for (const [big, bigName, small, smallName, limit] of TWO_UNITS) {
      let whole = Math.floor(s / big);
      let rest = Math.round((s - whole * big) / small);
      if (rest * small === big) [whole, rest] = [whole + 1, 0];
      if (whole * big < limit) return `${sign}${whole} ${bigName}` + (rest ? ` ${rest} ${smallName}` : "");
    }
    return "-";  // not reached: days have no limit
  }
  const TWO_UNITS = [
    [MINUTE, "min", 1, "s", HOUR],
    [HOUR, "h", MINUTE, "min", DAY],
    [DAY, "d", HOUR, "h", Infinity],
  ];

  // uPlot pieces. uPlot calls a series' `value` as (u, v, seriesIdx, idx) and an axis' `values` as
  // (u, splits, axisIdx, space, incr); both must return text.

  /** uPlot series value formatter: a ratio as % in the hover legend ("80.0%", "-" at a gap). */
  const percentValue = (u, v) => formatPercent(v);
  /** uPlot series value formatter: seconds with units in the hover legend. */
  const durationValue = (u, v) => formatDuration(v);
  /** uPlot series value formatter: a time in seconds as "2013-08-01 14:00Z". */
  const timeValue = (u, v) => formatTime(v);

  /** Tick labels of a time axis: 24 h UTC, the date under the first tick and wherever the day changes. */
  function timeTicks(u, splits, axisIdx, space, incr) {
    let previousDate = null;
    return splits.map((v) => {
      if (v === null || v === undefined) return "";
      const [date, hm] = parts(v);
      if (incr >= 28 * DAY) return date.slice(0, 7);
      if (incr >= DAY) return date;
      const label = date === previousDate ? `${hm}Z` : `${hm}Z\n${date}`;
      previousDate = date;
      return label;
    });
  }

  /** Tick labels of a ratio axis as whole percentages ("80%"). */
  const percentTicks = (u, splits) => splits.map((v) => `${Math.round(v * 100)}%`);
  /** Tick labels of a seconds axis in one unit, the largest the top tick reaches ("30 s", "2.5 min", "4 h"). */
  function durationTicks(u, splits) {
    const top = Math.max(0, ...splits.map((v) => Math.abs(v)));
    const [size, name] = top >= 2 * DAY ? [DAY, "d"] : top >= 2 * HOUR ? [HOUR, "h"]
      : top >= 2 * MINUTE ? [MINUTE, "min"] : top >= 1 || top === 0 ? [1, "s"] : [0.001, "ms"];
    return splits.map((v) => `${Number((v / size).toFixed(2))} ${name}`);
  }

  /** Options that make uPlot place time ticks on UTC days and hours, whatever the browser's zone. */
  function utcOptions() {
    return { tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC") };
  }

  /** A uPlot x axis in UTC 24 h; extra options are merged in (e.g. { space: 120 }). Ticks at least 90 px
   * apart: a "2013-08-01" label is about 75 px wide, and labels that touch cannot be read. */
  function timeAxis(extra) {
    return Object.assign({ values: timeTicks, space: 90, size: 44 }, extra || {});
  }

  /** A uPlot y axis in whole percentages; extra options are merged in (e.g. { scale: "cpu", side: 1 }). */
  function percentAxis(extra) {
    return Object.assign({ values: percentTicks }, extra || {});
  }

  // Tick steps of a duration axis, in seconds: round in the unit each one is written in.
  const DURATION_INCRS = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30,
    60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 432000, 864000];

  /** A uPlot y axis of durations with units, its ticks on round steps (30 s, 5 min, 1 h). */
  function durationAxis(extra) {
    return Object.assign({ values: durationTicks, incrs: DURATION_INCRS, size: 72 }, extra || {});
  }

  /** uPlot's first series (x) for a time scale: its hover legend shows the window start in UTC. */
  function timeSeries(label) {
    return { label: label || "window (UTC)", value: timeValue };
  }

  window.stackmeterFormat = {
    formatTime, formatTimeRange, formatPercent, formatDuration,
    percentValue, durationValue, timeValue, timeTicks, percentTicks, durationTicks,
    utcOptions, timeAxis, percentAxis, durationAxis, timeSeries,
  };
})();
