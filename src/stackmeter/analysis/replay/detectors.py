"""Host overload detectors of CloudSim 3.0: THR, IQR, MAD, LR and LRR, vectorised over hosts.

Every detector sees, per host, the same three things CloudSim's ``isHostOverUtilized`` does for
the VMs currently in the host's list (a VM tentatively placed there counts, with its past):

- ``load``: Σ requested MIPS ÷ host MIPS, uncapped (may exceed 1);
- ``history``: the host's utilization history, newest first, ``hosts × 30``: Σ over its VMs of
  each VM's past utilization × VM MIPS ÷ host MIPS (CloudSim's
  ``PowerHostUtilizationHistory.getUtilizationHistory``), with ``lengths`` the number of values
  left once trailing zeros are trimmed (0 for an empty host);
- ``migration_intervals``: for LR and LRR, ⌈longest migration time of its VMs ÷ step⌉.

IQR and MAD need 12 values and LR and LRR 10; with fewer they fall back to THR 0.7, as the
paper's runs configure them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from stackmeter.errors import ConfigError

FALLBACK_THRESHOLD = 0.7
ROBUST_MIN_VALUES = 12
REGRESSION_VALUES = 10


class HostView(NamedTuple):
    """What a detector sees of a batch of hosts (one row per host)."""

    load: np.ndarray
    history: np.ndarray
    lengths: np.ndarray
    migration_intervals: np.ndarray


Detector = Callable[[HostView, float], np.ndarray]


def threshold(view: HostView, parameter: float) -> np.ndarray:
    """THR(t): overloaded when the requested load exceeds ``t`` (strictly)."""
    return np.asarray(view.load > parameter)


def _by_length(
    view: HostView, minimum: int, rule: Callable[[np.ndarray, np.ndarray], np.ndarray]
) -> np.ndarray:
    """Apply ``rule(history rows, their loads)`` to rows with at least ``minimum`` values, THR 0.7 to the rest.

    Rows are grouped by their number of values (in a replay every non-empty host has the same
    number), so each group is one vectorised call on ``history[:, :n]``.
    """
    flags = view.load > FALLBACK_THRESHOLD
    for n in np.unique(view.lengths):
        if n < minimum:
            continue
        rows = np.flatnonzero(view.lengths == n)
        flags[rows] = rule(view.history[rows, : int(n)], view.load[rows])
    return flags


def _java_round(value: float) -> int:
    """``Math.round`` of Java: the nearest integer, halves up."""
    return int(np.floor(value + 0.5))


def interquartile(view: HostView, parameter: float) -> np.ndarray:
    """IQR(s): overloaded when load > 1 − s·IQR of the history (CloudSim's ``MathUtil.iqr`` quartiles).

    The quartiles are order statistics of the sorted history: index round(0.25(n + 1)) − 1 and
    round(0.75(n + 1)) − 1, no interpolation.
    """

    def rule(history: np.ndarray, load: np.ndarray) -> np.ndarray:
        n = history.shape[1]
        ordered = np.sort(history, axis=1)
        spread = ordered[:, _java_round(0.75 * (n + 1)) - 1] - ordered[:, _java_round(0.25 * (n + 1)) - 1]
        return np.asarray(load > 1 - parameter * spread)

    return _by_length(view, ROBUST_MIN_VALUES, rule)


def _median(rows: np.ndarray) -> np.ndarray:
    """Median of each row; the mean of the two middle values for an even count."""
    ordered = np.sort(rows, axis=1)
    n = rows.shape[1]
    if n % 2:
        return ordered[:, n // 2]
    return (ordered[:, n // 2 - 1] + ordered[:, n // 2]) / 2.0


def median_absolute_deviation(view: HostView, parameter: float) -> np.ndarray:
    """MAD(s): overloaded when load > 1 − s·median(|history − median(history)|)."""

    def rule(history: np.ndarray, load: np.ndarray) -> np.ndarray:
        deviation = np.abs(_median(history)[:, None] - history)
        return np.asarray(load > 1 - parameter * _median(deviation))

    return _by_length(view, ROBUST_MIN_VALUES, rule)


@functools.cache
def tricube_weights(n: int = REGRESSION_VALUES) -> np.ndarray:
    """CloudSim's ``getTricubeWeigts``: k_i = (1 − ((n − 1 − i)/(n − 1))³)³ for i ≥ 2, k_0 = k_1 = k_2.

    Returned as CloudSim passes them to the regression: 1/k, standard deviations.
    """
    top = n - 1.0
    i = np.arange(n, dtype=np.float64)
    k = (1 - ((top - i) / top) ** 3) ** 3
    sigma = np.where(k > 0, 1 / np.where(k > 0, k, 1.0), np.finfo(np.float64).max)
    sigma[:2] = sigma[2]
    sigma.flags.writeable = False
    return sigma


@functools.cache
def prediction_weights(ahead: float) -> np.ndarray:
    """c with c·y = a + b·(10 + ahead) of LR's weighted line, y the last 10 values oldest first.

    The fitted line is linear in y, so fitting the 10 unit vectors gives c once for all hosts.
    """
    intercept, slope, _ = weighted_line(np.eye(REGRESSION_VALUES), tricube_weights())
    weights = intercept + slope * (REGRESSION_VALUES + ahead)
    weights.flags.writeable = False
    return weights


def weighted_line(y: np.ndarray, sigma: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted least-squares line through each row of ``y`` at x = 1 … n: (intercepts, slopes, residuals).

    ``sigma`` (broadcast against ``y``) are standard deviations, as Flanagan's ``Regression``
    takes them: each point weighs 1/σ². CloudSim passes 1/k, so the effective weight is k².
    """
    n = y.shape[1]
    x = np.arange(1, n + 1, dtype=np.float64)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        w = 1.0 / (sigma * sigma)
        sw = w.sum(axis=1) if w.ndim == 2 else np.full(len(y), w.sum())
        sx = (w * x).sum(axis=-1)
        sxx = (w * x * x).sum(axis=-1)
        sy = (w * y).sum(axis=1)
        sxy = (w * x * y).sum(axis=1)
        slope = (sw * sxy - sx * sy) / (sw * sxx - sx * sx)
        intercept = (sy - slope * sx) / sw
    residuals = y - (intercept[:, None] + x * slope[:, None])
    return intercept, slope, residuals


def _newest_oldest_first(history: np.ndarray) -> np.ndarray:
    """The newest ``REGRESSION_VALUES`` values of each row, oldest first (x = 1 is the oldest)."""
    return history[:, REGRESSION_VALUES - 1 :: -1]


def _predicts_overload(
    intercept: np.ndarray, slope: np.ndarray, view: HostView, rows: np.ndarray, s: float
) -> np.ndarray:
    """s·(a + b·(10 + m)) ≥ 1: the fitted line, m steps past the newest value, with the safety factor."""
    predicted = intercept + slope * (REGRESSION_VALUES + view.migration_intervals[rows])
    with np.errstate(invalid="ignore"):
        return np.asarray(predicted * s >= 1)


def local_regression(view: HostView, parameter: float) -> np.ndarray:
    """LR(s): the tricube-weighted line through the last 10 values, extrapolated past the migration time."""
    return _regression(view, parameter, robust=False)


def robust_local_regression(view: HostView, parameter: float) -> np.ndarray:
    """LRR(s): as LR, refitted with CloudSim's bisquare weights on the first fit's residuals.

    β_i = (1 − (e_i / 6·median|e|)²)², not truncated (residuals beyond 6·median|e| weigh again);
    the standard deviations become 1/(β_i·k_i), those of points 0 and 1 copied from point 2.
    """
    return _regression(view, parameter, robust=True)


def _regression(view: HostView, parameter: float, robust: bool) -> np.ndarray:
    """LR or LRR on rows with ≥ 10 values (the newest 10 used), THR 0.7 on the others."""
    flags = view.load > FALLBACK_THRESHOLD
    rows = np.flatnonzero(view.lengths >= REGRESSION_VALUES)
    if rows.size == 0:
        return flags
    y = _newest_oldest_first(view.history[rows])
    if not robust:
        ahead = view.migration_intervals[rows]
        first = float(ahead[0])
        if (ahead == first).all():
            predicted = y @ prediction_weights(first)
        else:
            predicted = np.empty(len(rows))
            for steps in np.unique(ahead):
                same = ahead == steps
                predicted[same] = y[same] @ prediction_weights(float(steps))
        with np.errstate(invalid="ignore"):
            flags[rows] = predicted * parameter >= 1
        return flags
    sigma = tricube_weights()
    intercept, slope, residuals = weighted_line(y, sigma)
    intercept, slope = _robust_refit(y, sigma, residuals)
    flags[rows] = _predicts_overload(intercept, slope, view, rows, parameter)
    return flags


def _robust_refit(y: np.ndarray, sigma: np.ndarray, residuals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The second, bisquare-weighted fit of LRR (CloudSim's ``getTricubeBisquareWeigts``)."""
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        s6 = _median(np.abs(residuals)) * 6
        beta = (1 - (residuals / s6[:, None]) ** 2) ** 2
        robust_sigma = np.where(
            beta > 0, (1 / np.where(beta > 0, beta, 1.0)) * sigma, np.finfo(np.float64).max
        )
    robust_sigma[:, :2] = robust_sigma[:, 2:3]
    intercept, slope, _ = weighted_line(y, robust_sigma)
    return intercept, slope


DETECTORS: dict[str, Detector] = {
    "thr": threshold,
    "iqr": interquartile,
    "mad": median_absolute_deviation,
    "lr": local_regression,
    "lrr": robust_local_regression,
}
"""Overload detector of each CloudSim allocation policy name."""

NEEDS_HISTORY = frozenset({"iqr", "mad", "lr", "lrr"})


def detector(name: str) -> Detector:
    """The detector of a policy name, or ConfigError listing them."""
    if name not in DETECTORS:
        raise ConfigError(
            f"unknown overload detector {name!r}: use {', '.join(sorted(DETECTORS))}", where="policy"
        )
    return DETECTORS[name]
