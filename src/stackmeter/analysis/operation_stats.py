"""Statistics of operations: per window (counts, failures, duration quantiles, fleet load) and
the spread of their durations over log-spaced bins (pure).

An operation belongs to the window holding its start (its close, when it has no start).
Duration quantiles (``p50_s`` … ``max_s``) are over successful operations with a start; failed,
timed-out and unstarted ones are counted in their own columns.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from stackmeter.analysis.windows import window_start
from stackmeter.errors import ConfigError
from stackmeter.models import ERROR, MAX_DURATION_S, RUNNING, SUCCESS, TIMED_OUT
from stackmeter.models.events import DurationHistogram

GROUPINGS = ("host", "flavor", "project")
QUANTILES = {"p50_s": 0.50, "p95_s": 0.95, "p99_s": 0.99}
STATS_COLUMNS = [
    "count", "success", "error", "timed_out", "running", "without_start",
    "p50_s", "p95_s", "p99_s", "max_s", "mean_scheduling_s",
]  # fmt: skip

# Upper edges of the duration bins: 1, 2, 5 of each unit (100 ms … 20 s, 1 min … 20 min, 1 h … 10 h)
# and 1 d, so that each edge is 2 to 3 times the one before and every edge reads as a
# round duration. The first bin starts at 0 s, the last (1 d and longer) has no upper edge.
DURATION_EDGES_S = (
    0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0,
    60.0, 120.0, 300.0, 600.0, 1200.0,
    3600.0, 7200.0, 18000.0, 36000.0, 86400.0,
)  # fmt: skip
MAX_DURATION_EDGES = 100
HISTOGRAM_QUANTILES = {"p50_s": 0.50, "p95_s": 0.95}

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


def check_duration_edges(edges_s: Sequence[float]) -> tuple[float, ...]:
    """Return the upper bin edges as floats if they make bins: 1 to :data:`MAX_DURATION_EDGES` of
    them, each above 0 s and at most :data:`~stackmeter.models.MAX_DURATION_S`, in increasing order;
    else raise :class:`ConfigError` naming ``bins``."""
    edges = tuple(float(edge) for edge in edges_s)
    if not 1 <= len(edges) <= MAX_DURATION_EDGES:
        raise ConfigError(f"bins: give 1 to {MAX_DURATION_EDGES} bin edges, not {len(edges)}", "bins")
    if not all(math.isfinite(edge) and 0 < edge <= MAX_DURATION_S for edge in edges):
        raise ConfigError(f"bins: every edge must be above 0 s and at most {MAX_DURATION_S:,.0f} s", "bins")
    if any(later <= earlier for earlier, later in zip(edges, edges[1:], strict=False)):
        raise ConfigError("bins: the edges must increase, e.g. 1,10,60,600", "bins")
    return edges


def duration_histogram(
    operations: pd.DataFrame, edges_s: Sequence[float] = DURATION_EDGES_S
) -> DurationHistogram:
    """Return how the durations of each operation spread over bins (see :class:`DurationHistogram`).

    Successful operations and failed attempts are counted apart (a failure's duration is the time
    to its ``.error``); those without a duration (timed out, running, without a start) are left
    out, as they are of the per-window quantiles.

    :param operations: the frame :func:`stackmeter.analysis.pairing.pair_operations` returns
    :param edges_s: upper bin edges in seconds, increasing; 0 s is the first lower edge and the
        last edge the lower edge of an open-ended bin (default :data:`DURATION_EDGES_S`)
    """
    edges = np.array((0.0, *check_duration_edges(edges_s)))
    started = operations["started"].astype(bool)
    timed = operations[
        started & operations["outcome"].isin((SUCCESS, ERROR)) & operations["duration_s"].notna()
    ]
    ok = (timed["outcome"] == SUCCESS).to_numpy()
    durations = timed["duration_s"].to_numpy(dtype=float)  # an empty frame's column is of objects
    counts = timed["operation"].value_counts()
    names = sorted(counts.index, key=lambda name: (-counts[name], name))
    position = pd.Index(names).get_indexer(timed["operation"])
    # Durations are never negative (a close comes after its start), so every one finds a bin.
    cell = position * len(edges) + np.searchsorted(edges, durations, side="right") - 1
    shape = (len(names), len(edges))
    success = np.bincount(cell[ok], minlength=shape[0] * shape[1]).reshape(shape)
    error = np.bincount(cell[~ok], minlength=shape[0] * shape[1]).reshape(shape)
    done = pd.Series(durations[ok]).groupby(timed["operation"].to_numpy()[ok])
    quantiles = {
        name: done.quantile(q).reindex(names).astype(float).tolist()
        for name, q in HISTOGRAM_QUANTILES.items()
    }
    return DurationHistogram(
        tuple(edges.tolist()),
        tuple(names),
        tuple(tuple(row) for row in success.tolist()),
        tuple(tuple(row) for row in error.tolist()),
        tuple(None if math.isnan(v) else v for v in quantiles["p50_s"]),
        tuple(None if math.isnan(v) else v for v in quantiles["p95_s"]),
    )
