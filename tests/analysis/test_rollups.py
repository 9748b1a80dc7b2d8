"""Which level serves a timescale, which thresholds are on bin edges, quantile bounds from histograms."""

from __future__ import annotations

import numpy as np
import pytest

from stackmeter.analysis.rollups import quantile_bounds, serving_level, threshold_bin
from stackmeter.models import WindowHistograms


@pytest.mark.parametrize(
    "timescale, levels, expected",
    [
        ("5m", ("5m", "1h", "1d"), "5m"),
        ("1h", ("5m", "1h", "1d"), "1h"),
        ("1d", ("5m", "1h", "1d"), "1d"),
        ("1w", ("5m", "1h", "1d"), "1d"),
        ("1mo", ("5m", "1h", "1d"), "1d"),
        ("1mo", ("5m", "1h", "1d", "1w"), "1d"),  # weeks straddle months
        ("1w", ("1h", "1w"), "1w"),
        ("1mo", ("1w", "1mo"), "1mo"),
        ("5m", ("1h", "1d"), None),
        ("1d", (), None),
    ],
)
def test_serving_level_is_the_coarsest_that_nests(timescale, levels, expected):
    assert serving_level(timescale, levels) == expected


@pytest.mark.parametrize(
    "threshold, expected",
    [(0.8, 80), (0.05, 5), (0.29, 29), (0.57, 57), (1.0, 100), (1.13, 113), (2.0, 200), (0.01, 1),
     (0.855, None), (0.8000000000000002, None), (2.5, None), (2.01, None), (0.0, None), (0.001, None)],
)  # fmt: skip
def test_threshold_bin(threshold, expected):
    assert threshold_bin(threshold) == expected


def histograms(windows: list[tuple[list[int], list[int], float, float]]) -> WindowHistograms:
    """Windows given as (bins, counts, minimum, maximum)."""
    sizes = [len(bins) for bins, _, _, _ in windows]
    return WindowHistograms(
        entity=np.array(["e"] * len(windows), dtype=object),
        window=np.arange(len(windows)).astype("datetime64[D]").astype("datetime64[ns]"),
        samples=np.array([sum(counts) for _, counts, _, _ in windows]),
        minimum=np.array([minimum for _, _, minimum, _ in windows]),
        maximum=np.array([maximum for _, _, _, maximum in windows]),
        offsets=np.concatenate(([0], np.cumsum(sizes))),
        bins=np.array([b for bins, _, _, _ in windows for b in bins], dtype=np.int64),
        counts=np.array([c for _, counts, _, _ in windows for c in counts], dtype=np.int64),
    )


@pytest.mark.parametrize(
    "q, lower, upper",
    [
        # 10 samples: two in [0.10, 0.11), five in [0.50, 0.51), three in [0.90, 0.91), min 0.105, max 0.907
        (0.0, 0.105, 0.11),  # rank 0: the minimum's bin, clipped below by the minimum
        (1.0, 0.90, 0.907),  # rank 9: the top bin, clipped above by the maximum
        (0.5, 0.50, 0.51),  # rank 4.5: both order statistics in the 0.50 bin
        (1 / 9, 0.105, 0.11),  # rank 1: the second sample, still in the first bin
        # rank 1.5: halfway between the second sample (first bin) and the third (bin 50)
        (1.5 / 9, 0.105 + 0.5 * (0.50 - 0.105), 0.11 + 0.5 * (0.51 - 0.11)),
    ],
)
def test_quantile_bounds_within_a_bin(q, lower, upper):
    window = ([10, 50, 90], [2, 5, 3], 0.105, 0.907)
    low, high = quantile_bounds(histograms([window]), q)
    assert (low[0], high[0]) == pytest.approx((lower, upper))


def test_quantile_bounds_of_several_windows_and_the_overflow_bin():
    windows = [
        ([0], [1], 0.004, 0.004),  # one sample: exact
        ([30, 200], [3, 1], 0.3, 7.5),  # the maximum lies in the overflow bin
        ([99, 100], [1, 1], 0.995, 1.0),
    ]
    low, high = quantile_bounds(histograms(windows), 1.0)
    np.testing.assert_allclose(low, [0.004, 2.0, 1.0])
    np.testing.assert_allclose(high, [0.004, 7.5, 1.0])
    low, high = quantile_bounds(histograms(windows), 0.5)
    np.testing.assert_allclose(low, [0.004, 0.3, 0.995 + 0.5 * (1.0 - 0.995)])
    np.testing.assert_allclose(high, [0.004, 0.31, 1.0])
