"""Turning results into plain JSON types, JSON and CSV text, the same way for the CLI, the API and the pages."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from stackmeter.models import (
    DeadLetter,
    OperationTimings,
    OverloadReport,
    QuantileReport,
    Samples,
    TargetStatus,
)


def jsonable(value: Any) -> Any:
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


def to_json(value: object) -> str:
    """Return ``value`` as JSON text, through :func:`jsonable`."""
    return json.dumps(jsonable(value))


def format_time(value: np.datetime64 | None) -> str | None:
    """Return a time as ISO 8601 UTC text to the second (``2013-08-01T00:00:00Z``); ``None`` for none or NaT."""
    if value is None or np.isnat(value):
        return None
    moment: Any = value  # numpy's stubs refuse a datetime64 of any unit here
    text = np.datetime_as_string(np.datetime64(moment, "s"), unit="s")
    return text + "Z"


def format_iso(value: np.datetime64, sep: str = "T") -> str:
    """Return a time as ISO 8601 UTC text with its fraction, as ``datetime.isoformat`` writes it
    (``2026-03-02T10:00:00+00:00``, ``2026-03-02T10:00:00.250000+00:00``; nine digits only for a
    fraction finer than the microsecond, as pandas writes it). ``sep`` goes between date and time."""
    moment: Any = value  # numpy's stubs refuse a datetime64 of any unit here
    whole, ns = str(np.datetime_as_string(np.datetime64(moment, "ns"), unit="ns")).split(".")
    fraction = "" if ns == "000000000" else f".{ns[:6]}" if ns.endswith("000") else f".{ns}"
    return whole.replace("T", sep) + fraction + "+00:00"


def rows_csv(rows: Sequence[Any], columns: Iterable[str] | None = None) -> str:
    """Return CSV of records or dicts, header first."""
    buffer = io.StringIO()
    records = [jsonable(row) for row in rows]
    fields = list(columns) if columns else (list(records[0]) if records else [])
    writer = csv.DictWriter(buffer, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({key: _csv_value(value) for key, value in record.items()})
    return buffer.getvalue()


def _csv_value(value: Any) -> Any:
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


def quantile_rows(report: QuantileReport) -> list[dict]:
    """Return one flat dict per (entity, window) of a quantile report, for CSV."""
    return [
        {"resource": report.resource, "timescale": report.timescale, "q": report.q, **row._asdict(),
         "served_by": report.served_by}
        for row in report.windows
    ]  # fmt: skip


def target_rows(statuses: Iterable[TargetStatus], now: np.datetime64) -> list[dict]:
    """Return target statuses as plain rows: times in ISO 8601 UTC, lag in seconds before ``now``."""
    return [
        {
            "target": s.target,
            "exporter": s.exporter,
            "state": s.state,
            "last_success": format_time(s.last_success),
            "lag_s": _rounded(s.lag_s(now)),
            "failures": s.failures,
            "samples": s.samples,
            "last_error": s.last_error,
        }
        for s in statuses
    ]


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def frame_records(frame: Any) -> list[dict]:
    """Return the rows of a pandas frame as plain dicts: windows as ISO 8601 UTC, NaN as None."""
    if "window" in frame and len(frame):
        frame = frame.assign(window=frame["window"].dt.strftime("%Y-%m-%dT%H:%M:%SZ"))
    return [{key: jsonable(value) for key, value in row.items()} for row in frame.to_dict("records")]


def operation_timings_jsonable(timings: OperationTimings) -> dict:
    """Return :class:`~stackmeter.models.OperationTimings` as JSON types (CLI ``--json`` and API)."""
    return {
        "timescale": timings.timescale,
        "by": timings.by,
        "operation": timings.operation,
        "timeout_s": timings.timeout_s,
        "as_of": None if timings.as_of is None else format_iso(timings.as_of),
        "operations": timings.operations,
        "stats": frame_records(timings.stats),
        "failures": frame_records(timings.failures),
    }


def dead_letter_rows(letters: Iterable[DeadLetter]) -> tuple[DeadLetter, ...]:
    """Return dead letters with their time as ISO 8601 text (:func:`format_iso`), for JSON, CSV and tables."""
    return tuple(letter._replace(received=_iso_text(letter.received)) for letter in letters)


def _iso_text(received: np.datetime64) -> Any:
    return format_iso(received)  # text where the record holds a time: these rows are for output only
