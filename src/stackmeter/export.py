"""Turning results into plain JSON types, JSON and CSV text, the same way for the CLI, the API and the pages."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from stackmeter.models import (
    COMPLETE_MIN_COVERAGE,
    DeadLetter,
    OperationTimings,
    OverloadReport,
    QuantileReport,
    Samples,
    TargetStatus,
)
from stackmeter.models.consolidation import MeasuredRun
from stackmeter.models.replay_runs import ReplayReport


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


def format_minute(value: np.datetime64 | None) -> str | None:
    """Return a time as tables, pages and charts write it, ISO UTC 24 h to the minute
    (``2013-08-01 14:00Z``); ``None`` for none or NaT."""
    text = format_time(value)
    return None if text is None else text[:16].replace("T", " ") + "Z"


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


def overload_jsonable(report: OverloadReport) -> dict:
    """Return the report as plain JSON types, with the coverage a window needs to be complete;
    the fleet window by window only when the report holds it (:func:`fleet_rows`)."""
    result = jsonable(report._replace(fleet=()))
    del result["fleet"]
    result["complete_min_coverage"] = COMPLETE_MIN_COVERAGE
    if report.fleet:
        result["fleet"] = fleet_rows(report)
    return result


FLEET_COLUMNS = (
    "timescale", "resource", "window", "entities", "samples", "expected_samples", "coverage",
    "ended", "complete", "overloaded",
)  # fmt: skip


def fleet_rows(report: OverloadReport, last: int = 0) -> list[dict]:
    """Return the report's fleet window by window (``FLEET_COLUMNS``), resource by resource, only
    the latest ``last`` windows of each when ``last`` is above 0: ``coverage`` is samples /
    expected samples (``None`` when the step is unknown)."""
    rows = []
    for fleet in report.fleet:
        first = max(0, fleet.window.size - last) if last > 0 else 0
        for j in range(first, fleet.window.size):
            start = fleet.window[j]
            expected = float(fleet.expected_samples[j])
            known = math.isfinite(expected) and expected > 0
            rows.append(
                {
                    "timescale": fleet.timescale,
                    "resource": fleet.resource,
                    "window": format_time(start),
                    "entities": int(fleet.entities[j]),
                    "samples": int(fleet.samples[j]),
                    "expected_samples": round(expected, 3) if math.isfinite(expected) else None,
                    "coverage": round(int(fleet.samples[j]) / expected, 6) if known else None,
                    "ended": bool(fleet.ended[j]),
                    "complete": bool(fleet.complete[j]),
                    "overloaded": int(fleet.overloaded[j]),
                }
            )
    return rows


def fleet_jsonable(report: OverloadReport, rows: list[dict] | None = None) -> dict:
    """Return the fleet window by window of a report read with ``fleet=True`` (``stackmeter fleet
    --json``): the parameters, each resource's sampling step, and ``rows`` (by default every
    row of :func:`fleet_rows`)."""
    return {
        "timescale": report.timescales[0] if report.timescales else None,
        "thresholds": report.thresholds,
        "share": report.share,
        "complete_min_coverage": COMPLETE_MIN_COVERAGE,
        "step_s": {fleet.resource: fleet.step_s for fleet in report.fleet},
        "served_by": served_by_text(report),
        "windows": fleet_rows(report) if rows is None else rows,
    }


def served_by_text(report: OverloadReport) -> str:
    """Return which rollup level or raw samples served each timescale of a report, in one line:
    ``1h from rollup 1h; 1d, 1w from rollup 1d``."""
    sources: dict[str, list[str]] = {}
    for timescale, source in report.served_by.items():
        sources.setdefault(source, []).append(timescale)
    text = "; ".join(f"{', '.join(scales)} from {source}" for source, scales in sources.items())
    return text + (f" ({report.served_note})" if report.served_note else "")


# The columns of a quantile report's CSV (a header even when a page holds no row).
QUANTILE_COLUMNS = (
    "resource", "timescale", "q", "entity", "window", "samples", "quantile", "lower", "upper", "served_by",
)  # fmt: skip


def quantile_rows(report: QuantileReport) -> list[dict]:
    """Return one flat dict per (entity, window) of a quantile report, for CSV."""
    return [
        {"resource": report.resource, "timescale": report.timescale, "q": report.q, **row._asdict(),
         "served_by": report.served_by}
        for row in report.windows
    ]  # fmt: skip


def quantile_csv_pages(pages: Iterable[QuantileReport]) -> Iterator[str]:
    """Yield the CSV of a quantile report read page by page (``operations.quantile_pages``): the
    first page's with its header, the rows only of every other. Joined, they are the CSV of the
    whole report, ``rows_csv(quantile_rows(report), QUANTILE_COLUMNS)``."""
    for number, page in enumerate(pages):
        text = rows_csv(quantile_rows(page), QUANTILE_COLUMNS)
        yield text if number == 0 else text.partition("\n")[2]


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
        "durations": durations_jsonable(timings),
    }


def dead_letter_rows(letters: Iterable[DeadLetter]) -> tuple[DeadLetter, ...]:
    """Return dead letters with their time as ISO 8601 text (:func:`format_iso`), for JSON, CSV and tables."""
    return tuple(letter._replace(received=_iso_text(letter.received)) for letter in letters)


def _iso_text(received: np.datetime64) -> Any:
    return format_iso(received)  # text where the record holds a time: these rows are for output only


def durations_jsonable(timings: OperationTimings) -> dict:
    """Return the duration histogram of ``timings`` as JSON types: ``bins`` (``lower_s``, ``upper_s``;
    ``None`` for the open-ended last bin) and one object per operation (see :data:`DURATIONS_SCHEMA`)."""
    histogram = timings.durations
    return {
        "bins": [{"lower_s": lower, "upper_s": upper} for lower, upper in _bin_bounds(histogram.edges_s)],
        "operations": [
            {
                "operation": name,
                "success": sum(success),
                "error": sum(error),
                "p50_s": p50,
                "p95_s": p95,
                "success_counts": list(success),
                "error_counts": list(error),
            }
            for name, success, error, p50, p95 in zip(
                histogram.operations, histogram.success, histogram.error, histogram.p50_s, histogram.p95_s,
                strict=True,
            )
        ],
    }  # fmt: skip


DURATION_COLUMNS = ("operation", "lower_s", "upper_s", "success", "error")


def duration_rows(timings: OperationTimings) -> list[dict]:
    """Return the duration histogram of ``timings`` as one flat row per operation and bin
    (:data:`DURATION_COLUMNS`, ``upper_s`` ``None`` for the last bin), every bin included."""
    histogram = timings.durations
    bounds = _bin_bounds(histogram.edges_s)
    return [
        {"operation": name, "lower_s": lower, "upper_s": upper, "success": ok, "error": failed}
        for name, success, error in zip(histogram.operations, histogram.success, histogram.error, strict=True)
        for (lower, upper), ok, failed in zip(bounds, success, error, strict=True)
    ]


def _bin_bounds(edges_s: Sequence[float]) -> list[tuple[float, float | None]]:
    return list(zip(edges_s, [*edges_s[1:], None], strict=True))


def format_duration(seconds: float | None) -> str:
    """Return seconds with units, two units at most, as the pages write them: ``0.25`` → ``250 ms``,
    ``4.25`` → ``4.3 s``, ``250`` → ``4 min 10 s``, ``7200`` → ``2 h``, ``90000`` → ``1 d 1 h``; ``-`` for
    none or NaN. Halves round up, and a value that rounds up to the next unit is written in it
    (``119.6`` → ``2 min``, ``86399`` → ``1 d``)."""
    if seconds is None or not math.isfinite(seconds):
        return "-"
    s, sign = abs(seconds), "-" if seconds < 0 else ""
    if s < 1 and _half_up(s * 1000) < 1000:
        return f"{sign}{_half_up(s * 1000)} ms"
    if s < 10 and _half_up(s * 10) < 100:
        return f"{sign}{_half_up(s * 10) / 10:.1f} s"
    if s < 60 and _half_up(s) < 60:
        return f"{sign}{_half_up(s)} s"
    for big, big_name, small, small_name, limit in _TWO_UNITS:
        whole = math.floor(s / big)
        rest = _half_up((s - whole * big) / small)
        if rest * small == big:  # 119.6 s is 2 min, not 1 min 60 s
            whole, rest = whole + 1, 0
        if whole * big < limit:
            return f"{sign}{whole} {big_name}" + (f" {rest} {small_name}" if rest else "")
    raise AssertionError("not reached: days have no limit")


# (unit, its name, the smaller unit after it, its name, where the next unit takes over), in seconds.
_TWO_UNITS = ((60, "min", 1, "s", 3600), (3600, "h", 60, "min", 86400), (86400, "d", 3600, "h", math.inf))


def _half_up(value: float) -> int:
    """``value`` (not negative) to a whole number, a half rounded up, as JavaScript's ``Math.round``."""
    return math.floor(value + 0.5)


# The JSON schema of ``durations`` (:func:`durations_jsonable`), for the API's description.
DURATIONS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "How long each operation took over the whole span, counted in log-spaced duration bins "
    "(per operation, not grouped by `by`, and whole on every page). Successful operations (`.start` to "
    "`.end`) and failed attempts (`.start` to `.error`) are counted apart; timed-out, running and unstarted "
    "ones have no duration and are in neither.",
    "properties": {
        "bins": {
            "type": "array",
            "description": "The bins, shortest first: each holds durations from `lower_s` (included) up to "
            "`upper_s` (excluded), in seconds. The first starts at 0 s; the last has `upper_s` null.",
            "items": {
                "type": "object",
                "properties": {
                    "lower_s": {"type": "number", "minimum": 0, "examples": [60]},
                    "upper_s": {"type": ["number", "null"], "examples": [120]},
                },
            },
        },
        "operations": {
            "type": "array",
            "description": "One item per operation with at least one duration, most durations first.",
            "items": {
                "type": "object",
                "properties": {
                    "operation": {"type": "string", "examples": ["create"]},
                    "success": {"type": "integer", "description": "Successful operations (with a duration)."},
                    "error": {"type": "integer", "description": "Failed attempts with a duration."},
                    "p50_s": {
                        "type": ["number", "null"],
                        "description": "Median of the successful durations, in seconds (null: none).",
                    },
                    "p95_s": {
                        "type": ["number", "null"],
                        "description": "95th percentile of the successful durations, in seconds (null: none).",
                    },
                    "success_counts": {
                        "type": "array",
                        "items": {"type": "integer"},
                        "description": "Successful operations per bin, in the order of `bins`.",
                    },
                    "error_counts": {
                        "type": "array",
                        "items": {"type": "integer"},
                        "description": "Failed attempts per bin, in the order of `bins`.",
                    },
                },
            },
        },
    },
}

# The JSON schema of :func:`operation_timings_jsonable`, for the API's description.
OPERATION_TIMINGS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "timescale": {"type": "string", "examples": ["1h"]},
        "by": {
            "type": ["string", "null"],
            "description": "The grouping of `stats`: host, flavor, project or null.",
        },
        "operation": {
            "type": ["string", "null"],
            "description": "The one operation asked for, or null: all.",
        },
        "timeout_s": {"type": "number", "description": "An operation open this long has timed out."},
        "as_of": {
            "type": ["string", "null"],
            "description": "When open operations were judged: the latest event stored (ISO 8601 UTC).",
            "examples": ["2026-03-03T06:15:46.059071+00:00"],
        },
        "operations": {"type": "integer", "description": "Operations found (every page)."},
        "stats": {
            "type": "array",
            "description": "One row per window × operation (× group), paged: `window` (ISO 8601 UTC start), "
            "`count`, `success`, `error`, `timed_out`, `running`, `without_start`, duration percentiles of "
            "successful operations `p50_s`, `p95_s`, `p99_s`, `max_s` and `mean_scheduling_s` in seconds "
            "(null: none), `fleet_cpu_utilization` (a ratio; null without samples).",
            "items": {"type": "object"},
        },
        "failures": {
            "type": "array",
            "description": "The most frequent faults: `operation`, `fault`, `count` (whole on every page).",
            "items": {"type": "object"},
        },
        "durations": DURATIONS_SCHEMA,
    },
}


REPLAY_COLUMNS = (
    "policy", "semantics", "fleet", "hosts", "vms", "energy_kwh", "migrations", "slatah", "pdm", "slav",
    "esv", "host_shutdowns", "mean_time_before_host_shutdown_s", "vms_removed", "memory_overload", "host_wakes",
)  # fmt: skip


def replay_rows(report: ReplayReport) -> list[dict]:
    """Return one row per policy replayed (``REPLAY_COLUMNS``); SLATAH, PDM, SLAV and
    ``memory_overload`` are fractions (``None`` when nothing was active or requested, or, for
    ``memory_overload``, when no VM's memory was replayed)."""
    return [
        {
            name: report.fleet if name == "fleet" else jsonable(getattr(result, name))
            for name in REPLAY_COLUMNS
        }
        for result in report.results
    ]


def replay_jsonable(report: ReplayReport, steps: bool = False) -> dict:
    """Return a replay report as ``stackmeter replay --json`` prints it: what was read, then a
    row per policy; with ``steps``, each policy's timeline too (step times as ISO UTC text)."""
    policies = replay_rows(report)
    if steps:
        start = report.first_window
        for row, result in zip(policies, report.results, strict=True):
            times = None if start is None else start + (result.step_time_s * 1e9).astype("timedelta64[ns]")
            row["steps"] = {
                "time": jsonable(times) if times is not None else [],
                "hosts_active": jsonable(result.step_hosts_active),
                "hosts_overloaded": jsonable(result.step_hosts_overloaded),
                "energy_kwh": jsonable(result.step_energy_kwh),
                "vms_alive": jsonable(result.step_vms_alive),
            }
            if result.step_hosts_memory_overloaded is not None:
                row["steps"]["hosts_memory_overloaded"] = jsonable(result.step_hosts_memory_overloaded)
    return {
        "fleet": report.fleet,
        "semantics": report.semantics,
        "vms": report.vms,
        "windows": report.windows,
        "first_window": format_time(report.first_window),
        "gaps_filled": report.gaps_filled,
        "no_demand_outside_history": report.before_first,
        "memory_vms": report.memory_vms,
        "policies": policies,
    }


# A measured run as CSV; beside replayed policies, their columns and the run's two fractions.
MEASURED_COLUMNS = MeasuredRun._fields
MEASURED_REPLAY_COLUMNS = (*REPLAY_COLUMNS, "aitf", "aotf")
_FRACTION = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
MEASURED_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "What a consolidation run measured over its window (the OpenStack Neat experiments' metrics).",
    "properties": {
        "run": {"type": "string", "examples": ["thr-0.8-1"]},
        "framework": {"type": "string", "examples": ["openstack-neat"]},
        "window_start": {
            "type": "string",
            "description": "ISO 8601 UTC.",
            "examples": ["2013-03-13T00:08:26Z"],
        },
        "window_end": {
            "type": "string",
            "description": "ISO 8601 UTC.",
            "examples": ["2013-03-14T00:08:26Z"],
        },
        "hosts": {"type": "integer"},
        "aitf": {**_FRACTION, "description": "Share of host time asleep."},
        "aotf": {**_FRACTION, "description": "Share of active host time with the overload flag up."},
        "migrations": {"type": "integer", "description": "Live migrations in the window."},
        "energy_kwh": {
            "type": ["number", "null"],
            "description": "Energy by the experiments' model: 450 W overloaded, 414 W active, 10.4 W asleep.",
        },
        "energy_all_on_kwh": {
            "type": "number",
            "description": "The model with every host on at the same load.",
        },
        "energy_saved": {**_FRACTION, "description": "1 − energy_kwh / energy_all_on_kwh."},
    },
}


def measured_replay_jsonable(
    measured: MeasuredRun | None, report: ReplayReport | None, steps: bool = False
) -> dict:
    """Return what ``stackmeter replay --measured`` prints as JSON: the measured run's fields
    alone, or with policies replayed beside it the replay's document with the run as ``measured``."""
    if report is None:
        return jsonable(measured)
    document = replay_jsonable(report, steps=steps)
    if measured is not None:
        document["measured"] = jsonable(measured)
    return document


def measured_replay_csv(measured: MeasuredRun | None, report: ReplayReport | None) -> str:
    """Return the CSV of ``stackmeter replay --measured``: the run's row alone (``MEASURED_COLUMNS``),
    or first among the replayed policies' rows (``MEASURED_REPLAY_COLUMNS``, policy ``measured``)."""
    if report is None:
        return rows_csv([measured], MEASURED_COLUMNS)
    rows = replay_rows(report)
    if measured is None:
        return rows_csv(rows, REPLAY_COLUMNS)
    return rows_csv([measured_row(measured), *rows], MEASURED_REPLAY_COLUMNS)


def measured_row(measured: MeasuredRun) -> dict:
    """Return a measured run as a row of replayed policies: ``policy`` ``measured``, the framework
    as its semantics and the run as its fleet; what only a replay has is ``None``."""
    row: dict = dict.fromkeys(MEASURED_REPLAY_COLUMNS)
    row.update(
        policy="measured",
        semantics=measured.framework,
        fleet=measured.run,
        hosts=measured.hosts,
        energy_kwh=jsonable(measured.energy_kwh),
        migrations=measured.migrations,
        aitf=jsonable(measured.aitf),
        aotf=jsonable(measured.aotf),
    )
    return row
