"""Turning results into JSON, CSV and Rich tables, the same way for the CLI and the API."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from rich.table import Table

from stackmeter.models import CompactSummary, EntitySummary, OverloadReport, QuantileReport, Samples


def jsonable(value):
    """Return ``value`` as plain JSON types: records become objects, times ISO 8601 UTC strings."""
    if hasattr(value, "_asdict"):
        return {key: jsonable(item) for key, item in value._asdict().items()}
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, np.ndarray):
        return [jsonable(item) for item in value]
    if isinstance(value, np.datetime64):
        return format_time(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) or math.isinf(value) else float(value)
    if isinstance(value, Path):
        return str(value)
    return value


def to_json(value) -> str:
    return json.dumps(jsonable(value))


def format_time(value: np.datetime64 | None) -> str | None:
    if value is None or np.isnat(value):
        return None
    text = np.datetime_as_string(np.datetime64(value, "s"), unit="s")
    return text + "Z"


def rows_csv(rows: Sequence, columns: Iterable[str] | None = None) -> str:
    """Return CSV of records or dicts, header first."""
    buffer = io.StringIO()
    records = [jsonable(row) for row in rows]
    fields = list(columns) if columns else (list(records[0]) if records else [])
    writer = csv.DictWriter(buffer, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({key: _csv_value(value) for key, value in record.items()})
    return buffer.getvalue()


def _csv_value(value):
    if isinstance(value, list):
        return ";".join(str(item) for item in value)
    return "" if value is None else value


def series_rows(samples: Samples) -> list[dict]:
    """Return samples as rows of time, used, capacity and utilization (``NaN`` when capacity is unknown)."""
    return [
        {"ts": ts, "used": used, "capacity": capacity, "utilization": used / capacity}
        for ts, used, capacity in zip(samples.ts, samples.used, samples.capacity, strict=True)
    ]


def overload_csv(report: OverloadReport) -> str:
    """Return the report as CSV: one row per timescale × resource, worst entities as ``id:share`` lists."""
    rows = []
    for cell in report.cells:
        row = jsonable(cell)
        row["worst"] = ";".join(f"{w.entity}:{w.share:.4f}" for w in cell.worst)
        rows.append(row)
    for multi in report.multi_resource:
        rows.append(
            {
                "timescale": multi.timescale,
                "resource": "2+ resources",
                "overloaded_ever": multi.entities,
                "worst": ";".join(f"{entity}:{windows}" for entity, windows in multi.worst),
            }
        )
    for row in rows:
        row["served_by"] = report.served_by.get(row["timescale"], "")
    columns = list(report.cells[0]._fields) if report.cells else ["timescale", "resource"]
    return rows_csv(rows, [*columns, "served_by"])


def served_by_text(report: OverloadReport) -> str:
    """Return which rollup level or raw samples served each timescale of a report, in one line:
    ``1h from rollup 1h; 1d, 1w from rollup 1d``."""
    sources: dict[str, list[str]] = {}
    for timescale, source in report.served_by.items():
        sources.setdefault(source, []).append(timescale)
    text = "; ".join(f"{', '.join(scales)} from {source}" for source, scales in sources.items())
    return text + (f" ({report.served_note})" if report.served_note else "")


def overload_tables(report: OverloadReport) -> list[Table]:
    """Return the report as Rich tables: the timescale × resource table, then multi-resource overload."""
    thresholds = ", ".join(f"{name} θ={value:g}" for name, value in report.thresholds.items())
    table = Table(
        title=f"Overloaded entities (share ≥ {report.share:g} of samples at or above θ; {thresholds})",
        title_justify="left",
        caption=f"Served by: {served_by_text(report)}",
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
        "latest",
    ):
        table.add_column(column, justify="right" if column not in ("timescale", "resource") else "left")
    table.add_column("trend/window", justify="right")
    table.add_column("worst entities (share of their windows)")
    for cell in report.cells:
        entities = f"{cell.entities}" + (
            f" ({cell.without_capacity} no capacity)" if cell.without_capacity else ""
        )
        worst_window = format_time(cell.worst_window) or "-"
        latest = "-" if cell.overloaded_latest is None else str(cell.overloaded_latest)
        trend = "-" if cell.trend_per_window is None else f"{cell.trend_per_window:+.3g}"
        worst = ", ".join(f"{_short(w.entity)} {w.share:.0%}" for w in cell.worst[:3])
        table.add_row(
            cell.timescale,
            cell.resource,
            entities,
            str(cell.windows),
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


def _short(entity: str, length: int = 24) -> str:
    return entity if len(entity) <= length else entity[: length - 1] + "…"


def ingest_summary_table(summary) -> Table:
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


def rejection_lines(summary, limit: int = 5) -> list[str]:
    """Return the first rejections of an ingest, one located line each."""
    lines = [f"  {rejection}" for rejection in summary.rejection_examples[:limit]]
    if lines and summary.rejected > len(lines):
        lines.append(
            f"  … and {summary.rejected - len(lines):,} more (all kept in the store's rejections table)"
        )
    return (["Rejected input (first ones):"] + lines) if lines else []


def entities_table(rows: list[EntitySummary]) -> Table:
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


def quantile_rows(report: QuantileReport) -> list[dict]:
    """Return one flat dict per (entity, window) of a quantile report, for CSV."""
    return [
        {"resource": report.resource, "timescale": report.timescale, "q": report.q, **row._asdict(),
         "served_by": report.served_by}
        for row in report.windows
    ]  # fmt: skip


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


# -- live collection


def target_rows(statuses, now_ns: int) -> list[dict]:
    """Return target statuses as plain rows: times in ISO 8601 UTC, lag in seconds."""
    return [
        {
            "target": s.target,
            "exporter": s.exporter,
            "state": s.state,
            "last_success": format_time(
                None if s.last_success_ns is None else np.datetime64(s.last_success_ns, "ns")
            ),
            "lag_s": None if s.lag_s(now_ns) is None else round(s.lag_s(now_ns), 1),
            "failures": s.failures,
            "samples": s.samples,
            "last_error": s.last_error,
        }
        for s in statuses
    ]


def sources_table(rows: list[dict]) -> Table:
    """Return target rows as a Rich table, state in colour."""
    table = Table(title="Sources", title_justify="left")
    for column, justify in (
        ("target", "left"),
        ("exporter", "left"),
        ("state", "left"),
        ("last success", "left"),
        ("lag", "right"),
        ("failures", "right"),
        ("samples", "right"),
        ("last error", "left"),
    ):
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


def collect_status_line(summary) -> str:
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


def frame_records(frame) -> list[dict]:
    """Return the rows of a pandas frame as plain dicts: windows as ISO 8601 UTC, NaN as None."""
    if "window" in frame and len(frame):
        frame = frame.assign(window=frame["window"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    return [{key: jsonable(value) for key, value in row.items()} for row in frame.to_dict("records")]


def operation_timings_jsonable(timings) -> dict:
    """Return :class:`~stackmeter.models.OperationTimings` as JSON types (CLI ``--json`` and API)."""
    return {
        "timescale": timings.timescale,
        "by": timings.by,
        "operation": timings.operation,
        "timeout_s": timings.timeout_s,
        "as_of": timings.as_of.isoformat() if timings.as_of is not None else None,
        "operations": timings.operations,
        "stats": frame_records(timings.stats),
        "failures": frame_records(timings.failures),
    }
