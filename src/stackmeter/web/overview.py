"""The overview page's pieces: the timescale × resource matrix, its sparklines, the fleet chart."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from stackmeter.analysis.windows import window_end
from stackmeter.models import FleetWindows, OverloadCell, OverloadReport

# A sparkline draws at most this many points: longer series keep each stretch's highest count.
SPARK_POINTS = 120
SPARK_WIDTH, SPARK_HEIGHT = 120, 28
# Severity of a cell, by the share of the judged fleet overloaded in the latest complete window:
# (lowest share, name), highest first. Any overloaded entity at all is at least "low".
SEVERITIES = ((0.20, "high"), (0.05, "medium"), (0.0, "low"))


class MatrixCell(NamedTuple):
    """One cell of the matrix: the report's cell, how severe it is, and its sparkline."""

    cell: OverloadCell
    judged: int
    severity: str
    spark: str
    spark_label: str


def severity(cell: OverloadCell) -> str:
    """``unjudged`` (no capacity known), ``unknown`` (no complete window), ``none`` (0 overloaded),
    else ``low``, ``medium`` or ``high`` by the share of the judged fleet overloaded in the latest
    complete window (:data:`SEVERITIES`)."""
    judged = cell.entities - cell.without_capacity
    if not judged:
        return "unjudged"
    if cell.overloaded_latest is None:
        return "unknown"
    if cell.overloaded_latest == 0:
        return "none"
    share = cell.overloaded_latest / judged
    return next(name for lowest, name in SEVERITIES if share >= lowest)


def sparkline(counts: np.ndarray, top: int) -> str:
    """Return an SVG polyline's points for ``counts`` per window, scaled to ``top`` (the highest
    count of the row, so a row's sparklines compare), at most :data:`SPARK_POINTS` points."""
    values = np.asarray(counts, dtype=np.float64)
    if values.size == 0:
        return ""
    if values.size > SPARK_POINTS:
        edges = np.linspace(0, values.size, SPARK_POINTS + 1).astype(np.int64)
        values = np.maximum.reduceat(values, edges[:-1])
    x = np.linspace(0, SPARK_WIDTH, values.size) if values.size > 1 else np.array([SPARK_WIDTH / 2])
    y = SPARK_HEIGHT - 2 - (SPARK_HEIGHT - 4) * values / max(top, 1)
    return " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(x, y, strict=True))


def matrix(report: OverloadReport) -> dict[tuple[str, str], MatrixCell]:
    """Return the matrix's cells by (timescale, resource); a report read with ``fleet=True``."""
    fleets = {(fleet.timescale, fleet.resource): fleet for fleet in report.fleet}
    tops = {
        timescale: max(
            [int(f.overloaded.max()) for f in report.fleet if f.timescale == timescale and f.overloaded.size]
            or [0]
        )
        for timescale in report.timescales
    }
    result = {}
    for cell in report.cells:
        fleet = fleets.get((cell.timescale, cell.resource))
        counts = fleet.overloaded if fleet is not None else np.empty(0, np.int64)
        label = (
            f"{cell.resource} overloaded per {cell.timescale} window: {counts.size} windows, "
            f"at most {int(counts.max()) if counts.size else 0} at once"
        )
        result[cell.timescale, cell.resource] = MatrixCell(
            cell,
            cell.entities - cell.without_capacity,
            severity(cell),
            sparkline(counts, tops[cell.timescale]),
            label,
        )
    return result


def fleet_chart(report: OverloadReport, timescale: str) -> dict[str, Any] | None:
    """Return what the fleet chart plots for ``timescale``: window starts and ends (Unix seconds),
    whether each is complete, and the overloaded count per window of each resource (``None`` when
    no resource has a window)."""
    fleets: list[FleetWindows] = [f for f in report.fleet if f.timescale == timescale and f.window.size]
    if not fleets:
        return None
    starts = np.unique(np.concatenate([f.window for f in fleets]))
    series = []
    for fleet in fleets:
        values = np.full(starts.size, np.nan)
        values[np.searchsorted(starts, fleet.window)] = fleet.overloaded
        series.append(
            {"resource": fleet.resource, "overloaded": [None if np.isnan(v) else int(v) for v in values]}
        )
    # A window is shaded when any resource counts it partial.
    complete = np.ones(starts.size, bool)
    for fleet in fleets:
        complete[np.searchsorted(starts, fleet.window)] &= fleet.complete
    return {
        "timescale": timescale,
        "window": _seconds(starts),
        "ends": _seconds(window_end(starts, timescale)),
        "complete": [bool(c) for c in complete],
        "series": series,
    }


def _seconds(times: np.ndarray) -> list[int]:
    return (times.astype("datetime64[s]").astype(np.int64)).tolist()
