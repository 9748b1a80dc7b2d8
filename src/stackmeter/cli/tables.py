"""What people read: every Rich table the commands print (reports, ingest and compact summaries,
sources, notifications) and their one-line summaries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from rich.console import JustifyMethod
from rich.table import Table

from stackmeter.export import format_duration, format_minute, format_time, served_by_text
from stackmeter.models import (
    COMPLETE_MIN_COVERAGE,
    TIMESCALE_BY_NAME,
    CompactSummary,
    DeadLetter,
    EntitySummary,
    NotificationsSummary,
    OperationTimings,
    OverloadReport,
    QuantileReport,
)
from stackmeter.operations import CollectSummary, IngestSummary

COMPLETE_NOTE = (
    f"Latest and trend count complete windows only: ended, and holding at least "
    f"{COMPLETE_MIN_COVERAGE:.0%} of the samples their entities report over a whole window."
)


def overload_tables(report: OverloadReport) -> list[Table]:
    """Return the report as Rich tables: the timescale × resource table, then multi-resource overload."""
    thresholds = ", ".join(f"{name} θ={value:g}" for name, value in report.thresholds.items())
    table = Table(
        title=f"Overloaded entities (share ≥ {report.share:g} of samples at or above θ; {thresholds})",
        title_justify="left",
        caption=f"Served by: {served_by_text(report)}. {COMPLETE_NOTE}",
        caption_justify="left",
    )
    for column in (
        "timescale",
        "resource",
        "entities",
        "windows",
        "ever",
        "mean/window",
        "max (window)",
        "latest complete",
    ):
        table.add_column(column, justify="right" if column not in ("timescale", "resource") else "left")
    table.add_column("trend/window", justify="right")
    table.add_column("worst entities (share of their windows)")
    for cell in report.cells:
        entities = f"{cell.entities}" + (
            f" ({cell.without_capacity} no capacity)" if cell.without_capacity else ""
        )
        worst_window = _window_text(cell.worst_window, cell.timescale)
        latest = "-" if cell.overloaded_latest is None else str(cell.overloaded_latest)
        if cell.latest_window is not None:
            latest += f" ({_window_text(cell.latest_window, cell.timescale)})"
        windows = str(cell.windows) + (f" ({cell.windows_partial} partial)" if cell.windows_partial else "")
        trend = "-" if cell.trend_per_window is None else f"{cell.trend_per_window:+.3g}"
        worst = ", ".join(f"{_short(w.entity)} {w.share:.0%}" for w in cell.worst[:3])
        table.add_row(
            cell.timescale,
            cell.resource,
            entities,
            windows,
            str(cell.overloaded_ever),
            f"{cell.overloaded_mean:.2f}",
            f"{cell.overloaded_max} ({worst_window})" if cell.overloaded_max else "0",
            latest,
            trend,
            worst or "-",
        )
    multi = Table(title="Overloaded in 2 or more resources in the same window", title_justify="left")
    for column in ("timescale", "entities", "entity-windows", "most often"):
        multi.add_column(column)
    for row in report.multi_resource:
        most = ", ".join(f"{_short(entity)} ({windows})" for entity, windows in row.worst[:3])
        multi.add_row(row.timescale, str(row.entities), str(row.entity_windows), most or "-")
    return [table, multi]


def fleet_tables(report: OverloadReport, rows: Sequence[dict]) -> list[Table]:
    """Return one table per resource of the fleet window by window (``rows`` of
    :func:`~stackmeter.export.fleet_rows`), with the rule that makes a window complete."""
    tables = []
    for fleet in report.fleet:
        step = "unknown" if fleet.step_s is None else f"{fleet.step_s:g} s"
        table = Table(
            title=f"{fleet.resource} per {fleet.timescale} window (θ={fleet.threshold:g}, share ≥ "
            f"{report.share:g}; sampling step {step})",
            title_justify="left",
            caption=f"Served by: {served_by_text(report)}. {COMPLETE_NOTE}",
            caption_justify="left",
        )
        for column in ("window", "entities", "samples", "expected", "coverage", "complete", "overloaded"):
            table.add_column(column, justify="left" if column in ("window", "complete") else "right")
        for row in rows:
            if row["resource"] != fleet.resource:
                continue
            expected, coverage = row["expected_samples"], row["coverage"]
            table.add_row(
                _window_text(np.datetime64(row["window"].removesuffix("Z"), "ns"), fleet.timescale),
                str(row["entities"]),
                str(row["samples"]),
                "-" if expected is None else f"{expected:.0f}",
                "-" if coverage is None else f"{coverage:.0%}",
                _completeness(row),
                str(row["overloaded"]),
            )
        tables.append(table)
    return tables


def _window_text(start: Any, timescale: str) -> str:
    """A window by its start, ISO UTC: the date alone for days and longer (``2013-08-01``), else
    to the minute (``2013-08-01 15:00Z``)."""
    text = format_minute(start) or "-"
    return text[:10] if TIMESCALE_BY_NAME[timescale].nominal_s >= 86_400 else text


def _completeness(row: dict) -> str:
    if row["complete"]:
        return "yes"
    if not row["samples"]:
        return "no samples"
    return "partial: " + ("few samples" if row["ended"] else "not ended")


def _short(entity: str, length: int = 24) -> str:
    return entity if len(entity) <= length else entity[: length - 1] + "…"


def ingest_summary_table(summary: Any) -> Table:
    """Return an ingest summary as a two-column Rich table."""
    table = Table(title=f"Ingest {summary.trace_format}", title_justify="left", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    span = f"{format_time(summary.first_ts)} .. {format_time(summary.last_ts)}" if summary.first_ts else "-"
    for what, value in (
        ("files", f"{summary.files} ({summary.files_with_samples} with samples)"),
        ("entities", summary.entities),
        ("samples read", f"{summary.samples_read:,}"),
        ("samples added", f"{summary.samples_added:,}"),
        ("duplicates", f"{summary.duplicates:,}"),
        ("time span", span),
        ("rejected", f"{summary.rejected:,}"),
    ):
        table.add_row(what, str(value))
    for reason, count in summary.rejected_by_reason.items():
        table.add_row(f"  {reason}", f"{count:,}")
    return table


def entities_table(rows: list[EntitySummary]) -> Table:
    """Return the entities of a store as a Rich table, one row each."""
    table = Table(title=f"{len(rows)} entities", title_justify="left")
    for column in ("entity", "kind", "project", "resources", "samples", "first", "last"):
        table.add_column(column)
    for row in rows:
        table.add_row(
            row.entity,
            row.kind,
            row.project or "-",
            ",".join(row.resources),
            f"{row.samples:,}",
            format_time(row.first_ts),
            format_time(row.last_ts),
        )
    return table


def quantile_table(report: QuantileReport) -> Table:
    """Return a quantile report as a Rich table, one row per (entity, window)."""
    exact = report.served_by == "raw"
    bounds = "" if exact else "; the true value lies in \\[lower, upper]"
    table = Table(
        title=f"{report.q:g} quantile of {report.resource} utilization per {report.timescale} window",
        title_justify="left",
        caption=f"Served by: {report.served_by}{bounds}",
        caption_justify="left",
    )
    for column in ("entity", "window", "samples", "quantile") + (() if exact else ("lower", "upper")):
        table.add_column(column, justify="left" if column in ("entity", "window") else "right")
    for row in report.windows:
        limits = () if exact else (f"{row.lower:.4f}", f"{row.upper:.4f}")
        table.add_row(row.entity, format_time(row.window), f"{row.samples:,}", f"{row.quantile:.4f}", *limits)
    return table


def compact_table(summary: CompactSummary) -> Table:
    """Return what ``compact`` dropped (or would drop, in a dry run) as a two-column Rich table."""
    title = "Compact (dry run: nothing dropped)" if summary.dry_run else "Compact"
    dropped = "would be dropped" if summary.dry_run else "dropped"
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("retention counted back from", format_time(summary.as_of) or "- (empty store)")
    table.add_row(f"raw samples {dropped}", f"{summary.samples_dropped:,}")
    table.add_row("raw samples kept from", format_time(summary.raw_before) or "all kept")
    for level, rows in summary.rollup_rows_dropped.items():
        table.add_row(f"rollup {level} windows {dropped}", f"{rows:,}")
        table.add_row(f"rollup {level} kept from", format_time(summary.rollup_before[level]) or "-")
    return table


def sources_table(rows: list[dict]) -> Table:
    """Return target rows as a Rich table, state in colour."""
    table = Table(title="Sources", title_justify="left")
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("target", "left"),
        ("exporter", "left"),
        ("state", "left"),
        ("last success", "left"),
        ("lag", "right"),
        ("failures", "right"),
        ("samples", "right"),
        ("last error", "left"),
    )
    for column, justify in columns:
        table.add_column(column, justify=justify, overflow="fold")
    for row in rows:
        style = {"up": "green", "down": "red"}.get(row["state"], "yellow")
        table.add_row(
            row["target"],
            row["exporter"],
            f"[{style}]{row['state']}[/]",
            row["last_success"] or "never",
            "-" if row["lag_s"] is None else f"{row['lag_s']:.0f}s",
            str(row["failures"]),
            f"{row['samples']:,}",
            row["last_error"] or "",
        )
    return table


def notifications_table(summary: NotificationsSummary, title: str) -> Table:
    """Return what a notification ingest or listener read, added and refused as a two-column Rich table."""
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    for what, value in (
        ("messages", summary.messages),
        ("events added", summary.events_added),
        ("already stored", summary.duplicates),
        ("dead letters", summary.dead_letters),
        ("batches", summary.batches),
    ):
        table.add_row(what, f"{value:,}")
    for reason, count in summary.dead_by_reason.items():
        table.add_row(f"  {reason}", f"{count:,}")
    for letter in summary.dead_examples[:5]:
        table.add_row("  e.g.", f"{letter.origin}: {letter.reason} ({letter.detail})")
    return table


def timings_table(timings: OperationTimings) -> Table:
    """Return operation statistics as a Rich table, one row per window × operation (× group)."""
    stats = timings.stats
    as_of = format_minute(timings.as_of) or "-"
    timeout = format_duration(timings.timeout_s)
    title = (
        f"{timings.operations:,} operations, {timings.timescale} windows (timeout {timeout}, as of {as_of})"
    )
    table = Table(title=title, title_justify="left", pad_edge=False)  # 2 more characters: fits 160
    columns = ["window", "operation"] + ([timings.by] if timings.by else [])
    columns += [
        "count",
        "ok",
        "error",
        "timed out",
        "running",
        "no start",
        "p50",
        "p95",
        "p99",
        "max",
        "sched",
        "fleet cpu",
    ]
    for column in columns:
        left = column in ("window", "operation", timings.by)
        # Times and durations stay whole on one line; headers and names wrap instead.
        whole = column in ("window", "operation", "running", "p50", "p95", "p99", "max", "sched")
        table.add_column(column, justify="left" if left else "right", no_wrap=whole)
    for row in stats.itertuples(index=False):
        cells = [format_minute(row.window.to_datetime64()) or "-", row.operation] + (
            [getattr(row, timings.by)] if timings.by else []
        )
        cells += [
            str(int(v))
            for v in (row.count, row.success, row.error, row.timed_out, row.running, row.without_start)
        ]
        cells += [_seconds(v) for v in (row.p50_s, row.p95_s, row.p99_s, row.max_s, row.mean_scheduling_s)]
        cells.append("-" if pd.isna(row.fleet_cpu_utilization) else f"{row.fleet_cpu_utilization:.0%}")
        table.add_row(*cells)
    return table


def failures_table(timings: OperationTimings) -> Table:
    """Return the most frequent failures of operations as a Rich table."""
    table = Table(title="Most frequent failures", title_justify="left")
    for column in ("operation", "fault", "count"):
        table.add_column(column, justify="right" if column == "count" else "left", overflow="fold")
    for row in timings.failures.itertuples(index=False):
        table.add_row(row.operation, row.fault, str(row.count))
    return table


def _seconds(value: float | None) -> str:
    """A duration with its units, as the pages write it (``2 min 5 s``); ``-`` for none."""
    return "-" if value is None or pd.isna(value) else format_duration(float(value))


def dead_letters_table(count: int, rows: Sequence[DeadLetter]) -> Table:
    """Return the latest dead letters (their time as ISO 8601 text) as a Rich table, bodies cut at 80."""
    table = Table(title=f"{count} dead letters (latest {len(rows)})", title_justify="left")
    for column in ("received", "origin", "reason", "detail", "body"):
        table.add_column(column, overflow="fold")
    for row in rows:
        body = row.body if len(row.body) <= 80 else row.body[:79] + "…"
        table.add_row(str(row.received)[:19], row.origin, row.reason, row.detail, body)
    return table


def rejection_lines(summary: IngestSummary, limit: int = 5) -> list[str]:
    """Return the first rejections of an ingest, one located line each."""
    lines = [f"  {rejection}" for rejection in summary.rejection_examples[:limit]]
    if lines and summary.rejected > len(lines):
        lines.append(
            f"  … and {summary.rejected - len(lines):,} more (all kept in the store's rejections table)"
        )
    return (["Rejected input (first ones):"] + lines) if lines else []


def compact_plan_line(plan: CompactSummary) -> str:
    """Say in one line what a compaction is about to drop (from its dry run)."""
    if plan.as_of is None:
        return "compact: the store holds no samples, nothing to drop"
    parts = [f"{plan.samples_dropped:,} raw samples before {format_time(plan.raw_before) or '-'}"]
    parts += [
        f"{rows:,} {level} windows before {format_time(plan.rollup_before.get(level)) or '-'}"
        for level, rows in plan.rollup_rows_dropped.items()
    ]
    return f"compact as of {format_time(plan.as_of)}: dropping " + ", ".join(parts)


def collect_status_line(summary: CollectSummary) -> str:
    """Return one line on how a collection run goes: rounds, targets up, samples, what is down."""
    up = sum(1 for s in summary.statuses if s.state == "up")
    down = [s for s in summary.statuses if s.state == "down"]
    line = (
        f"round {summary.rounds} · {up}/{len(summary.statuses)} targets up · "
        f"{summary.samples_added:,} samples added · {summary.rejected:,} rejected"
    )
    if down:
        line += f" · down: {down[0].target} ({down[0].last_error})" + (
            f" +{len(down) - 1}" if len(down) > 1 else ""
        )
    return line


_SPARKS = "·▁▂▃▄▅▆▇█"  # no duration in a bin, then eighths of the operation's fullest bin


def durations_table(timings: OperationTimings) -> Table:
    """Return the spread of each operation's durations as a Rich table: one row per operation with
    its counts, p50 and p95, and a bar per bin (its height: that bin's count against the fullest)."""
    histogram = timings.durations
    first, last = _filled_bins(timings)
    edges = histogram.edges_s
    upper = _edge(edges[last + 1]) if last + 1 < len(edges) else "∞"
    table = Table(
        title=f"Durations per operation, in {len(edges)} bins from 0 s to {_edge(edges[-1])} and over",
        title_justify="left",
        caption=(
            "Each bin ends 2 to 3 times later than the one before; --histogram lists them."
            if _grows_2_to_3_times(edges)
            else "--histogram lists the bins."
        ),
        caption_justify="left",
    )
    for column in ("operation", "ok", "error", "p50", "p95"):
        table.add_column(column, justify="left" if column == "operation" else "right")
    table.add_column(f"ok + error per bin, {_edge(edges[first])} … {upper}", no_wrap=True)
    columns = (histogram.operations, histogram.success, histogram.error, histogram.p50_s, histogram.p95_s)
    for name, success, error, p50, p95 in zip(*columns, strict=True):
        counts = [ok + failed for ok, failed in zip(success, error, strict=True)][first : last + 1]
        top = max(counts) or 1
        bars = "".join(_SPARKS[max(1, round(8 * n / top)) if n else 0] for n in counts)
        table.add_row(name, f"{sum(success):,}", f"{sum(error):,}", _seconds(p50), _seconds(p95), bars)
    return table


def histogram_table(timings: OperationTimings) -> Table:
    """Return the duration histogram as a Rich table: one row per operation and bin, from the first
    bin any operation fills to the last, ok (█) and error (░) apart."""
    histogram = timings.durations
    first, last = _filled_bins(timings)
    edges = histogram.edges_s
    title = "Durations per operation and bin (from, up to but not including)"
    table = Table(title=title, title_justify="left")
    for column in ("operation", "from", "up to", "ok", "error", ""):
        table.add_column(column, justify="left" if column in ("operation", "") else "right")
    for name, success, error in zip(histogram.operations, histogram.success, histogram.error, strict=True):
        top = max(ok + failed for ok, failed in zip(success, error, strict=True)) or 1
        for i in range(first, last + 1):
            upper = _edge(edges[i + 1]) if i + 1 < len(edges) else "-"
            bar = "█" * round(20 * success[i] / top) + "░" * round(20 * error[i] / top)
            table.add_row(name, _edge(edges[i]), upper, f"{success[i]:,}", f"{error[i]:,}", bar)
    return table


def _filled_bins(timings: OperationTimings) -> tuple[int, int]:
    """The first and the last bin holding a duration of any operation (all bins when none does)."""
    histogram = timings.durations
    filled = [
        i for i in range(len(histogram.edges_s))
        if any(ok[i] or failed[i] for ok, failed in zip(histogram.success, histogram.error, strict=True))
    ]  # fmt: skip
    return (filled[0], filled[-1]) if filled else (0, len(histogram.edges_s) - 1)


def _edge(seconds: float) -> str:
    """A bin edge as a round duration: ``0 s``, ``100 ms``, ``5 s``, ``2 min``, ``1 d``."""
    return "0 s" if seconds == 0 else format_duration(seconds).replace(".0 s", " s")


def _grows_2_to_3_times(edges: Sequence[float]) -> bool:
    """Whether each bin edge (after 0 s) is 2 to 3 times the one before, as the default 1-2-5
    edges are; edges given with ``--bins`` may be anything."""
    return all(2 <= b / a <= 3 for a, b in zip(edges, edges[1:], strict=False) if a > 0)
