"""The operations page's chart data: duration percentiles, failure rate and fleet CPU per window."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from stackmeter.export import jsonable

# Operations drawn when none is chosen: the most frequent, so the chart stays readable.
CHART_OPERATIONS = 6
# Percentiles drawn for one chosen operation, as (label, column of the stats).
PERCENTILES = (("p50", "p50_s"), ("p95", "p95_s"), ("p99", "p99_s"))


def operation_chart_data(stats: pd.DataFrame, operation: str | None) -> dict[str, Any] | None:
    """Return the series the operations page plots, or ``None`` without a window to plot.

    ``window`` holds window starts (Unix seconds); ``durations`` one series per line of the
    duration chart (p50/p95/p99 of ``operation``, or the p95 of each of the
    :data:`CHART_OPERATIONS` most frequent operations); ``failure`` the share of finished
    operations that failed (error or timed out) per window, ``None`` where none finished;
    ``cpu`` the fleet's mean CPU utilization. Gaps are ``None``. ``stats`` is ungrouped
    (one row per window and operation), as :func:`stackmeter.operations.operation_timings` gives it.
    """
    if not len(stats):
        return None
    window = pd.DatetimeIndex(stats["window"].unique()).sort_values()
    seconds = (window.asi8 // 1_000_000_000).tolist()

    def per_window(frame: pd.DataFrame, column: str) -> list[float | None]:
        values = frame.groupby("window")[column].first().reindex(window)
        return jsonable(values.to_numpy(dtype=float).tolist())

    if operation is not None:
        durations = [{"label": label, "values": per_window(stats, column)} for label, column in PERCENTILES]
    else:
        frequent = stats.groupby("operation")["count"].sum().sort_values(ascending=False, kind="stable")
        durations = [
            {"label": f"{name} p95", "values": per_window(stats[stats["operation"] == name], "p95_s")}
            for name in frequent.index[:CHART_OPERATIONS]
        ]
    totals = stats.groupby("window")[["success", "error", "timed_out"]].sum().reindex(window)
    failed = (totals["error"] + totals["timed_out"]).to_numpy(dtype=float)
    finished = failed + totals["success"].to_numpy(dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        failure = np.where(finished > 0, failed / finished, np.nan)
    return {
        "window": seconds,
        "durations": durations,
        "failure": jsonable(failure.tolist()),
        "cpu": per_window(stats, "fleet_cpu_utilization"),
    }
