"""CloudSim's overload detectors and VM selections against numbers worked out by hand or by numpy."""

from __future__ import annotations

import numpy as np
import pytest

from stackmeter.analysis.replay.detectors import (
    HostView,
    interquartile,
    local_regression,
    median_absolute_deviation,
    robust_local_regression,
    threshold,
    tricube_weights,
    weighted_line,
)
from stackmeter.analysis.replay.scheduler import map_buckets, scheduler_key_hash
from stackmeter.analysis.replay.selection import minimum_migration_time, minimum_utilization, random_selection


def view(history: list[float], load: float, ahead: float = 1.0) -> HostView:
    """One host: its history newest first (padded to 30 with zeros), its requested load."""
    row = np.zeros(30)
    row[: len(history)] = history
    return HostView(
        load=np.array([load]),
        history=row[None, :],
        lengths=np.array([len(history)]),
        migration_intervals=np.array([ahead]),
    )


def test_threshold_is_strict():
    assert threshold(view([], 0.81), 0.8)[0]
    assert not threshold(view([], 0.8), 0.8)[0]


def test_iqr_quartiles_are_order_statistics():
    # 12 values 0.05, 0.10, ..., 0.60: q1 at index round(0.25·13) − 1 = 2 (0.15), q3 at
    # round(0.75·13) − 1 = 9 (0.50): IQR 0.35, threshold 1 − 1.5·0.35 = 0.475.
    history = [0.05 * (i + 1) for i in range(12)][::-1]
    assert interquartile(view(history, 0.48), 1.5)[0]
    assert not interquartile(view(history, 0.47), 1.5)[0]
    # With 11 values the fallback THR 0.7 decides.
    assert not interquartile(view(history[:11], 0.69), 1.5)[0]
    assert interquartile(view(history[:11], 0.71), 1.5)[0]


def test_mad_uses_the_mean_of_the_middle_pair():
    # Six 0.1 and six 0.3: median 0.2, every deviation 0.1, MAD 0.1, threshold 1 − 2.5·0.1 = 0.75.
    history = [0.1, 0.3] * 6
    assert median_absolute_deviation(view(history, 0.76), 2.5)[0]
    assert not median_absolute_deviation(view(history, 0.74), 2.5)[0]


def test_tricube_weights_as_cloudsim_passes_them():
    # k_i = (1 − ((9 − i)/9)³)³ for i ≥ 2, k_0 = k_1 = k_2; passed as 1/k.
    k = 1 / tricube_weights()
    assert k == pytest.approx(
        [0.1485, 0.1485, 0.1485, 0.3485, 0.5688, 0.7591, 0.8930, 0.9674, 0.9959, 1], abs=5e-4
    )


def test_weighted_line_weighs_by_k_squared():
    # Flanagan's weights are standard deviations: 1/k each means weight k² per point, which is
    # numpy's polyfit with w = k (it minimises Σ (w·residual)²).
    rng = np.random.default_rng(7)
    y = rng.uniform(0.2, 0.9, size=(3, 10))
    intercept, slope, _ = weighted_line(y, tricube_weights())
    x = np.arange(1, 11)
    for row, a, b in zip(y, intercept, slope, strict=True):
        expected_b, expected_a = np.polyfit(x, row, 1, w=1 / tricube_weights())
        assert (a, b) == pytest.approx((expected_a, expected_b), rel=1e-9)


def test_lr_extrapolates_past_the_migration_time():
    # A straight history y = 0.08·x (x = 1 oldest … 10 newest) is its own fit: at x = 10 + 1
    # it predicts 0.88, × 1.2 = 1.056 ≥ 1. With slope 0.05: 0.55 × 1.2 = 0.66.
    rising = [0.08 * (10 - i) for i in range(10)]
    assert local_regression(view(rising, 0.0), 1.2)[0]
    assert not local_regression(view([0.05 * (10 - i) for i in range(10)], 0.0), 1.2)[0]
    # Two steps ahead: 0.05·12·1.2 = 0.72, still not.
    assert not local_regression(view([0.05 * (10 - i) for i in range(10)], 0.0, ahead=2), 1.2)[0]
    # Nine values: THR 0.7 on the requested load.
    assert local_regression(view(rising[:9], 0.71), 1.2)[0]
    assert not local_regression(view(rising[:9], 0.69), 1.2)[0]


def _robust_prediction(y: np.ndarray, s: float) -> float:
    """LRR by the book, point by point: tricube fit, untruncated bisquare on its residuals, refit."""
    x = np.arange(1, 11)
    k = np.array([(1 - ((9 - i) / 9) ** 3) ** 3 for i in range(10)])
    k[:2] = k[2]
    b, a = np.polyfit(x, y, 1, w=k)
    e = y - (a + b * x)
    s6 = 6 * np.median(np.abs(e))
    beta = np.array([(1 - (e[i] / s6) ** 2) ** 2 for i in range(10)])
    w = beta * k
    w[:2] = w[2]
    b2, a2 = np.polyfit(x, y, 1, w=w)
    return s * (a2 + b2 * 11)


def test_lrr_matches_a_pointwise_computation():
    rng = np.random.default_rng(3)
    for _ in range(20):
        y = rng.uniform(0.3, 0.9, size=10)
        y[4] += 0.8  # an outlier far beyond 6·median|e|: the untruncated bisquare weighs it again
        history = list(y[::-1])
        expected = _robust_prediction(y, 1.2) >= 1
        assert robust_local_regression(view(history, 0.0), 1.2)[0] == expected


def test_vm_selection():
    ram = np.array([1740.0, 613.0, 870.0, 613.0])
    utilization = np.array([0.5, 0.2, 0.1, 0.1])
    rng = np.random.default_rng(0)
    assert minimum_migration_time([0, 2, 3, 1], ram, utilization, rng) == 3  # first of the 613s in list order
    assert minimum_utilization([0, 3, 2, 1], ram, utilization, rng) == 3  # 0.1 twice: the first listed
    assert random_selection([0, 1, 2], ram, utilization, rng) in {0, 1, 2}


def test_scheduler_map_order():
    # Java: "2-7".hashCode() = (('2'·31 + '-')·31 + '7') = 50·961 + 45·31 + 55 = 49 500; it is below
    # 2¹⁶, so the spread hash is itself, bucket 49 500 mod 16 = 12 of a 16-bucket map.
    assert scheduler_key_hash(7) == 49_500
    assert [map_buckets(n) for n in (0, 12, 13, 24, 25)] == [16, 16, 32, 32, 64]
