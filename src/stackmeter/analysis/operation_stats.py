"""Per-window statistics of operations: counts, failures, duration quantiles, fleet load (pure).

An operation belongs to the window holding its start (its close, when it has no start).
Duration quantiles (``p50_s`` … ``max_s``) are over successful operations with a start; failed,
timed-out and unstarted ones are counted in their own columns.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from stackmeter.analysis.windows import window_start
from stackmeter.errors import ConfigError
from stackmeter.models import ERROR, RUNNING, SUCCESS, TIMED_OUT

GROUPINGS = ("host", "flavor", "project")
QUANTILES = {"p50_s": 0.50, "p95_s": 0.95, "p99_s": 0.99}
STATS_COLUMNS = [
    "count", "success", "error", "timed_out", "running", "without_start",
    "p50_s", "p95_s", "p99_s", "max_s", "mean_scheduling_s",
]  # fmt: skip

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)


def operation_stats(operations: pd.DataFrame, timescale: str, by: str | None = None) -> pd.DataFrame:
    """Return one row per window, operation (and ``by`` value) with :data:`STATS_COLUMNS`.

    :param operations: the frame :func:`stackmeter.analysis.pairing.pair_operations` returns
    :param timescale: one of the UTC window lengths (``5m``, ``1h``, ``1d``, ``1w``, ``1mo``)
    :param by: also group by ``host``, ``flavor`` or ``project`` (missing values as ``"-"``)
    """
    keys = ["window", "operation"] + ([check_grouping(by)] if by else [])
    if operations.empty:
        return pd.DataFrame(columns=keys + STATS_COLUMNS)
    at = operations["start"].fillna(operations["end"]).dt.tz_convert("UTC").dt.tz_localize(None)
    frame = operations.assign(window=window_start(at.to_numpy(), timescale))
    if by:
        frame[by] = frame[by].fillna("-")
    frame["window"] = pd.to_datetime(frame["window"]).dt.tz_localize("UTC")
    outcome = frame["outcome"]
    counts = (
        frame.assign(
            count=1,
            success=(outcome == SUCCESS) & frame["started"],
            error=outcome == ERROR,
            timed_out=outcome == TIMED_OUT,
            running=outcome == RUNNING,
            without_start=~frame["started"].astype(bool),
        )
        .groupby(keys, sort=True)[["count", "success", "error", "timed_out", "running", "without_start"]]
        .sum()
    )
    done = frame[(outcome == SUCCESS) & frame["started"].astype(bool)]
    durations = done.groupby(keys, sort=True)["duration_s"]
    result = counts.join(durations.max().rename("max_s"))
    for name, q in QUANTILES.items():
        result = result.join(durations.quantile(q).rename(name))
    result = result.join(frame.groupby(keys)["scheduling_s"].mean().rename("mean_scheduling_s"))
    return result.reset_index()[keys + STATS_COLUMNS]


def failure_kinds(operations: pd.DataFrame, top: int = 10) -> pd.DataFrame:
    """Return the most frequent faults per operation (``operation``, ``fault``, ``count``),
    instance ids in fault texts replaced by ``<uuid>`` so one cause counts as one kind."""
    failed = operations[operations["outcome"] == ERROR]
    if failed.empty:
        return pd.DataFrame(columns=["operation", "fault", "count"])
    fault = failed["fault"].fillna("unknown").str.replace(_UUID, "<uuid>", regex=True)
    counts = failed.assign(fault=fault).groupby(["operation", "fault"]).size().rename("count").reset_index()
    return (
        counts.sort_values(["count", "operation"], ascending=[False, True]).head(top).reset_index(drop=True)
    )


def with_fleet_utilization(stats: pd.DataFrame, utilization: pd.DataFrame) -> pd.DataFrame:
    """Return ``stats`` with the fleet's mean CPU utilization of each window beside it (NaN when
    the store has no samples for that window)."""
    if stats.empty:
        return stats.assign(fleet_cpu_utilization=pd.Series(dtype=np.float64))
    return stats.merge(utilization, on="window", how="left")


def check_grouping(by: str) -> str:
    """Return ``by`` if operations can be grouped by it (see :data:`GROUPINGS`), else raise."""
    if by not in GROUPINGS:
        raise ConfigError(f"cannot group operations by {by!r}; valid: {', '.join(GROUPINGS)}", "by")
    return by
