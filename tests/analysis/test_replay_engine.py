"""NPA and DVFS on the paper's 800 hosts and a real PlanetLab day, against CloudSim 3.0's own figures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stackmeter.analysis.replay import parse_policy, replay
from stackmeter.errors import ConfigError
from stackmeter.models import ReplayPolicy
from stackmeter.sources.fleet import SHIPPED_FLEETS, load_fleet

ROOT = Path(__file__).resolve().parents[2]
DAY = ROOT / "tests" / "fixtures" / "replay" / "planetlab-20110303.npz"
PAPER = load_fleet(SHIPPED_FLEETS / "planetlab-800.toml")

# CloudSim 3.0 on 20110303, trace files sorted by name. Energy: the `dvfs` rows of the research
# notes' consolidation-cloudsim-runs.csv ("3.0-paper-compatible" and "3.0-as-shipped"); VMs
# removed: the notes' table of VMs that vanish ("one zero at a step" and "two consecutive
# zeros"); host shutdowns: `run-planetlab 20110303 dvfs`, with CLOUDSIM_MODE=paper and
# interpolate (2026-12-02). NPA: 400 × 117 W + 400 × 135 W over 86 100.1 s.
CLOUDSIM = {
    "cloudsim-3.0-paper": {"energy_kwh": 626.27, "vms_removed": 749, "host_shutdowns": 563, "on_s": 6858.54},
    "cloudsim-3.0": {"energy_kwh": 802.75, "vms_removed": 532, "host_shutdowns": 455, "on_s": 2864.28},
}
NPA_KWH = 2410.80


@pytest.fixture(scope="module")
def utilization() -> np.ndarray:
    with np.load(DAY, allow_pickle=False) as day:
        assert list(day["names"]) == sorted(day["names"])
        return day["percent"] / 100.0


@pytest.mark.parametrize("semantics", sorted(CLOUDSIM))
def test_dvfs_matches_cloudsim(utilization, semantics):
    result = replay(utilization, PAPER.fleet, PAPER.vm_types, ReplayPolicy("dvfs"), semantics)
    expected = CLOUDSIM[semantics]
    assert result.energy_kwh == pytest.approx(expected["energy_kwh"], abs=0.01)
    assert result.vms_removed == expected["vms_removed"]
    assert result.host_shutdowns == expected["host_shutdowns"]
    assert result.mean_time_before_host_shutdown_s == pytest.approx(expected["on_s"], abs=0.005)
    assert (result.migrations, result.slatah, result.pdm, result.slav, result.esv) == (0, 0, 0, 0, 0)


def test_dvfs_steps(utilization):
    result = replay(utilization, PAPER.fleet, PAPER.vm_types, parse_policy("dvfs"))
    assert len(result.step_time_s) == 287
    assert result.step_time_s[[0, -1]] == pytest.approx([300.1, 86_100.1])
    assert result.step_energy_kwh.sum() == pytest.approx(result.energy_kwh)
    assert result.step_energy_kwh[0] == 0  # no host has a load before the first step
    # A VM is gone after the first step whose sample is 0 (sample 0 is never a step).
    first_zero = np.where(
        (utilization[:, 1:] == 0).any(axis=1), (utilization[:, 1:] == 0).argmax(axis=1), 287
    )
    alive = (first_zero[:, None] > np.arange(287)).sum(axis=0)
    assert result.step_vms_alive.tolist() == alive.tolist()
    assert (result.step_hosts_active <= 800).all() and (result.step_hosts_overloaded == 0).all()


def test_npa_draws_full_power_from_time_zero(utilization):
    result = replay(utilization, PAPER.fleet, PAPER.vm_types, parse_policy("npa"))
    assert result.energy_kwh == pytest.approx(NPA_KWH, abs=0.01)
    assert (result.step_hosts_active == 800).all()


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            lambda u: replay(u, PAPER.fleet, PAPER.vm_types, ReplayPolicy("dvfs"), "cloudsim-9"),
            "unknown semantics",
        ),
        (lambda u: replay(u, PAPER.fleet, PAPER.vm_types, ReplayPolicy("lq", "mmt", 0.8)), "unknown policy"),
        (lambda u: replay(u, PAPER.fleet, PAPER.vm_types, ReplayPolicy("thr")), "needs a VM selection"),
        (
            lambda u: replay(u, PAPER.fleet, PAPER.vm_types, ReplayPolicy("lr", "mx", 1.2)),
            "needs a VM selection",
        ),
        (lambda u: replay(u, PAPER.fleet, PAPER.vm_types, ReplayPolicy("dvfs", "mmt")), "no VM selection"),
        (lambda u: replay(u[:, :1], PAPER.fleet, PAPER.vm_types, ReplayPolicy("dvfs")), "two samples"),
        (
            lambda u: replay(np.where(u > 0.9, np.nan, u), PAPER.fleet, PAPER.vm_types, ReplayPolicy("dvfs")),
            "missing",
        ),
        (lambda u: replay(-u, PAPER.fleet, PAPER.vm_types, ReplayPolicy("dvfs")), "negative"),
        (lambda u: replay(u, PAPER.fleet, PAPER.vm_types, ReplayPolicy("dvfs"), interval_s=0), "interval"),
        # The 2500- and 2000-MIPS VMs fit only the 400 G5s, two each: 800 at most; two days have 1052.
        (
            lambda u: replay(np.tile(u, (2, 1)), PAPER.fleet, PAPER.vm_types, ReplayPolicy("dvfs")),
            "fits on none",
        ),
    ],
)
def test_bad_inputs_are_refused(utilization, call, message):
    with pytest.raises(ConfigError, match=message):
        call(utilization)


def test_policy_names():
    assert parse_policy("DVFS") == ReplayPolicy("dvfs")
    assert parse_policy("lr-mmt-1.2") == ReplayPolicy("lr", "mmt", 1.2)
    assert parse_policy("THR-MU-0.8").label == "thr-mu-0.8"
    assert parse_policy("lr-fit-1.1-cap0.75") == ReplayPolicy("lr", "fit", 1.1, 0.75)
    assert parse_policy("LR-MMT-1.1-CAP0.8").label == "lr-mmt-1.1-cap0.8"
    for word in (
        "lr-mmt",
        "lr-mmt-x",
        "lr-mx-1.2",
        "dvfs-mmt-1",
        "thr-mmt--1",
        "lr-fit-1.1-0.75",
        "lr-fit-1.1-cap0",
        "lr-fit-1.1-cap1.5",
        "lr-fit-1.1-capx",
        "lr-fit-1.1-cap0.7-x",
        "dvfs-cap0.7",
    ):
        with pytest.raises(ConfigError, match="use dvfs or npa, or one of"):
            parse_policy(word)


def test_no_vm_vanishes_under_the_stackmeter_profile(utilization):
    """CloudSim drops a VM from the simulation at its first zero demand (749 of 1,052 on this
    day); stackmeter's profile keeps every VM, idle or not, to the end."""
    zero_somewhere = int((utilization == 0).any(axis=1).sum())
    assert zero_somewhere > 0
    result = replay(utilization, PAPER.fleet, PAPER.vm_types, ReplayPolicy("dvfs"), "stackmeter")
    assert result.vms_removed == 0
    assert set(result.step_vms_alive.tolist()) == {utilization.shape[0]}
    assert result.semantics == "stackmeter"
