"""Answers from rollups: which level serves a timescale, which thresholds rollups answer exactly,
and quantiles bounded from utilization histograms (pure, vectorised)."""

from __future__ import annotations

import numpy as np

from stackmeter.models import (
    HISTOGRAM_BINS_PER_UNIT,
    HISTOGRAM_OVERFLOW_BIN,
    WindowHistograms,
    serving_level,
)

BIN_WIDTH = 1 / HISTOGRAM_BINS_PER_UNIT
__all__ = ["BIN_WIDTH", "quantile_bounds", "serving_level", "threshold_bin"]


def threshold_bin(threshold: float) -> int | None:
    """Return the bin whose lower edge is ``threshold``, or ``None`` when it is not on an edge.

    Edges are the doubles i/100 for i in 1..200, so ``0.8``, ``0.95`` and ``2.0`` are on edges;
    ``0.855`` and ``2.5`` are not (above 2 there is one overflow bin).
    """
    index = round(threshold * HISTOGRAM_BINS_PER_UNIT)
    if 0 < index <= HISTOGRAM_OVERFLOW_BIN and index / HISTOGRAM_BINS_PER_UNIT == threshold:
        return index
    return None


def quantile_bounds(histograms: WindowHistograms, q: float) -> tuple[np.ndarray, np.ndarray]:
    """Return, per window, bounds ``(lower, upper)`` of the quantile ``q`` of its samples.

    The quantile interpolates linearly between the order statistics at ranks ⌊q·(n−1)⌋ and the
    next (numpy's default, PromQL's ``quantile_over_time``). Each statistic lies in a known bin,
    clipped to the window's minimum and maximum, so the bounds are at most one bin apart, and
    exact when those clip them (one sample, or all samples equal). In the overflow bin the upper
    bound is the window's maximum.
    """
    n = histograms.samples
    rank = q * (n - 1)
    below = np.floor(rank).astype(np.int64)
    fraction = rank - below
    above = np.minimum(below + 1, n - 1)
    total = np.cumsum(histograms.counts)
    before = np.concatenate(([0], total))[histograms.offsets[:-1]]
    low_b, high_b = _bin_bounds(histograms, np.searchsorted(total, before + below, side="right"))
    low_a, high_a = _bin_bounds(histograms, np.searchsorted(total, before + above, side="right"))
    return low_b + fraction * (low_a - low_b), high_b + fraction * (high_a - high_b)


def _bin_bounds(histograms: WindowHistograms, position: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    bins = histograms.bins[position]
    low = np.maximum(bins / HISTOGRAM_BINS_PER_UNIT, histograms.minimum)
    high = np.where(bins < HISTOGRAM_OVERFLOW_BIN, (bins + 1) / HISTOGRAM_BINS_PER_UNIT, np.inf)
    return low, np.minimum(high, histograms.maximum)
