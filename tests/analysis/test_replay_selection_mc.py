"""MC (maximum correlation) VM selection: the R² it ranks by, its MMT fallback, and CloudSim 3.0's figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stackmeter.analysis.replay import parse_policy, replay
from stackmeter.analysis.replay.selection import correlation_coefficients, maximum_correlation, selector
from stackmeter.errors import ConfigError
from stackmeter.sources.fleet import SHIPPED_FLEETS, load_fleet

ROOT = Path(__file__).resolve().parents[2]
DAY = ROOT / "tests" / "fixtures" / "replay" / "planetlab-20110303.npz"
PAPER = load_fleet(SHIPPED_FLEETS / "planetlab-800.toml")

# The first 73 samples of 20110303, every later sample 0 (as in test_replay_migrations.py):
# `run-planetlab 20110303 lr mc 1.2 FOLDER` (and `thr mc 0.8`) on a copy of the day's files cut
# to 73 lines and padded with 215 zeros (2026-12-02, paper mode), as printed: energy kWh,
# migrations, SLATAH %, PDM %, SLAV %, shutdowns, mean time before a shutdown s.
PREFIX_SAMPLES = 73
PEER_PREFIX = {
    "lr-mc-1.2": (26.84, 4119, 4.11, 0.08, 0.00321, 938, 1072.78),
    "thr-mc-0.8": (26.94, 5705, 4.56, 0.11, 0.00487, 991, 1019.17),
}
# The whole day, the same command without FOLDER (2026-12-02, paper mode); `thr mc 0.8` printed
# 95.24, 15443, 4.47, 0.1, 0.00448, 1463, 1897.21 and the replay matches it too (left out: 40 s).
PEER_DAY = {
    "lr-mc-1.2": (93.42, 10015, 3.5, 0.06, 0.00221, 1234, 2122.0),
}

# A hand-made host: 5 VMs (ids 10…14 of 16) with 12 samples of history, newest first. VM 12 is
# nearly 0.5·VM 10 + 0.3·VM 11, so the others explain it best.
RNG = np.random.default_rng(7)
HISTORY = RNG.uniform(0.05, 0.6, size=(16, 12))
HISTORY[12] = 0.5 * HISTORY[10] + 0.3 * HISTORY[11] + RNG.normal(0, 0.004, 12)
HOST = [13, 10, 12, 14, 11]
RAM = np.full(16, 1740.0)
RAM[14] = 613.0  # MMT's choice on this host
UTILIZATION = np.zeros(16)


def lstsq_r2(rows: np.ndarray) -> np.ndarray:
    """R² of each row regressed (with an intercept) on the others, by numpy least squares."""
    out = []
    for i in range(len(rows)):
        y = rows[i]
        x = np.column_stack([np.ones(rows.shape[1])] + [rows[j] for j in range(len(rows)) if j != i])
        coefficients, *_ = np.linalg.lstsq(x, y, rcond=None)
        residual = y - x @ coefficients
        out.append(1 - residual @ residual / ((y - y.mean()) @ (y - y.mean())))
    return np.array(out)


def test_r_squared_is_the_least_squares_one():
    rows = HISTORY[HOST]
    assert np.allclose(correlation_coefficients(rows), lstsq_r2(rows), rtol=0, atol=1e-9)


def test_the_vm_the_others_explain_best_leaves():
    expected = HOST[int(np.argmax(lstsq_r2(HISTORY[HOST])))]
    assert expected == 12
    assert maximum_correlation(HOST, RAM, UTILIZATION, np.random.default_rng(0), HISTORY) == 12
    # Without VM 12 the choice is again the arg-max of the least-squares R², in host-list order.
    rest = [13, 10, 14, 11]
    chosen = maximum_correlation(rest, RAM, UTILIZATION, np.random.default_rng(0), HISTORY)
    assert chosen == rest[int(np.argmax(lstsq_r2(HISTORY[rest])))]


def test_too_short_a_history_falls_back_to_mmt():
    # 5 candidates need ≥ 6 samples (degrees of freedom = samples − candidates ≥ 1); with 5 the
    # choice is MMT's: the smallest RAM.
    short = HISTORY[:, :5]
    assert maximum_correlation(HOST, RAM, UTILIZATION, np.random.default_rng(0), short) == 14
    assert maximum_correlation(HOST, RAM, UTILIZATION, np.random.default_rng(0), HISTORY[:, :6]) != 14
    # A VM alone on its host with one sample: MMT; with two, itself.
    assert maximum_correlation([11], RAM, UTILIZATION, np.random.default_rng(0), HISTORY[:, :1]) == 11
    assert maximum_correlation([11], RAM, UTILIZATION, np.random.default_rng(0), HISTORY[:, :2]) == 11


def test_an_undefined_r_squared_never_wins():
    # A constant history has no variance: its R² is NaN (0/0), and so is every R² whose normal
    # equations hold its singular column; nothing beats Double.MIN_VALUE, the first VM is taken.
    flat = HISTORY.copy()
    flat[10] = 0.0
    r2 = correlation_coefficients(flat[HOST])
    assert np.isnan(r2).all()
    assert maximum_correlation(HOST, RAM, UTILIZATION, np.random.default_rng(0), flat) == 13


def test_mc_needs_the_history():
    with pytest.raises(ValueError, match="history"):
        maximum_correlation(HOST, RAM, UTILIZATION, np.random.default_rng(0))


def test_policy_names():
    assert selector("mc") is maximum_correlation
    assert parse_policy("lr-mc-1.2").selection == "mc"
    with pytest.raises(ConfigError, match="mc"):
        parse_policy("lr-mx-1.2")


@pytest.fixture(scope="module")
def utilization() -> np.ndarray:
    with np.load(DAY, allow_pickle=False) as day:
        return day["percent"] / 100.0


@pytest.mark.parametrize("policy", sorted(PEER_PREFIX))
def test_a_short_day_matches_cloudsim_to_its_printed_digits(utilization, policy):
    cut = utilization.copy()
    cut[:, PREFIX_SAMPLES:] = 0
    result = replay(cut, PAPER.fleet, PAPER.vm_types, parse_policy(policy), "cloudsim-3.0-paper")
    energy, migrations, slatah, pdm, slav, shutdowns, on_s = PEER_PREFIX[policy]
    assert result.energy_kwh == pytest.approx(energy, abs=0.005)
    assert result.migrations == migrations
    assert result.slatah * 100 == pytest.approx(slatah, abs=0.005)
    assert result.pdm * 100 == pytest.approx(pdm, abs=0.005)
    assert result.slav * 100 == pytest.approx(slav, abs=0.000005)
    assert result.host_shutdowns == shutdowns
    assert result.mean_time_before_host_shutdown_s == pytest.approx(on_s, abs=0.005)
    assert len(result.step_time_s) == PREFIX_SAMPLES


@pytest.mark.parametrize("policy", sorted(PEER_DAY))
def test_a_whole_day_matches_cloudsim_to_its_printed_digits(utilization, policy):
    result = replay(utilization, PAPER.fleet, PAPER.vm_types, parse_policy(policy), "cloudsim-3.0-paper")
    energy, migrations, slatah, pdm, slav, shutdowns, on_s = PEER_DAY[policy]
    assert result.energy_kwh == pytest.approx(energy, abs=0.005)
    assert result.migrations == migrations
    assert result.slatah * 100 == pytest.approx(slatah, abs=0.005)
    assert result.pdm * 100 == pytest.approx(pdm, abs=0.005)
    assert result.slav * 100 == pytest.approx(slav, abs=0.000005)
    assert result.host_shutdowns == shutdowns
    assert result.mean_time_before_host_shutdown_s == pytest.approx(on_s, abs=0.005)
