"""A replay of 3 VMs on 2 hosts, every number worked out by hand in the comments."""

from __future__ import annotations

import numpy as np
import pytest

from stackmeter.analysis.replay import replay
from stackmeter.analysis.replay.demand import step_utilization
from stackmeter.analysis.replay.scheduler import allocate_mips
from stackmeter.models import (
    HOSTS_GROUPED,
    SEMANTICS_PROFILES,
    VMS_ROUND_ROBIN,
    Fleet,
    HostGroup,
    HostType,
    PowerCurve,
    ReplayPolicy,
    VmType,
    VmTypes,
)

# Host 0 "one-core": 1 core of 1000 MIPS, P(u) = 100 + 100u W. Host 1 "two-core": 2 cores of
# 1000 MIPS, P(u) = 50 + 50u W. Both curves are straight lines, so P is easy to read off.
ONE_CORE = HostType("one-core", 1, 1000, 4096, 1000, PowerCurve(tuple(100 + 10.0 * i for i in range(11))))
TWO_CORE = HostType("two-core", 2, 1000, 4096, 1000, PowerCurve(tuple(50 + 5.0 * i for i in range(11))))
FLEET = Fleet("two hosts", (HostGroup(ONE_CORE, 1), HostGroup(TWO_CORE, 1)), HOSTS_GROUPED)
# First fit at nominal size: VM 0 (600) on host 0, leaving 400; VM 1 (400) fills host 0; VM 2
# (1000) goes to host 1.
VM_TYPES = VmTypes(
    (VmType("a", 600, 1, 1000, 100), VmType("b", 400, 1, 1000, 100), VmType("c", 1000, 1, 1000, 100)),
    VMS_ROUND_ROBIN,
)
# Four samples: three decision steps (t = 300.1, 600.1, 900.1); sample 0 only feeds interpolation.
UTILIZATION = np.array(
    [
        [0.9, 0.5, 1.0, 0.0],  # VM 0: 300, 600, then 0 MIPS
        [0.9, 0.5, 1.25, 0.0],  # VM 1: 200, 500 (above its size), 0
        [0.9, 0.8, 1.5, 0.25],  # VM 2: 800, 1500 (one core: capped at the host's 1000), 250
    ]
)


@pytest.fixture(scope="module")
def dvfs():
    return replay(UTILIZATION, FLEET, VM_TYPES, ReplayPolicy("dvfs"), "cloudsim-3.0-paper")


def test_step_states(dvfs):
    # Step 2: host 0 is asked 600 + 500 > 1000 and scales both shares (short); host 1 gives VM 2
    # one core, 1000 < 1500 (short). Step 3: VMs 0 and 1 ask 0 and vanish; host 0 is idle.
    assert np.allclose(dvfs.step_time_s, [300.1, 600.1, 900.1])
    assert dvfs.step_hosts_active.tolist() == [2, 2, 1]
    assert dvfs.step_hosts_overloaded.tolist() == [0, 2, 0]
    assert dvfs.step_vms_alive.tolist() == [3, 3, 1]
    assert dvfs.vms_removed == 2


def test_energy_integral(dvfs):
    # Host 0's load: 500/1000, then floor(600·1000/1100) + floor(500·1000/1100) = 545 + 454 = 999
    # of 1000, then 0. Host 1's: 800/2000, 1000/2000, 250/2000.
    # [0, 300.1]: no host has a load yet: 0.
    # [300.1, 600.1]: host 0 P(0.999) = 190 + (200 − 190)/10·(0.999 − 0.9)·100 = 199.9 W,
    #   (150 + 199.9)/2·300 = 52 485 J; host 1 (70 + 75)/2·300 = 21 750 J.
    # [600.1, 900.1]: host 0 starts loaded, so it counts down to idle: (199.9 + 100)/2·300 =
    #   44 985 J; host 1 (75 + 56.25)/2·300 = 19 687.5 J.
    assert dvfs.step_energy_kwh * 3.6e6 == pytest.approx([0, 52_485 + 21_750, 44_985 + 19_687.5])
    assert dvfs.energy_kwh == pytest.approx(138_907.5 / 3.6e6)


def test_sla_and_shutdowns(dvfs):
    # Active time 300 + 300 s per host; each is short for the 300 s after step 2: SLATAH 600/1200.
    # Host 0 goes idle at step 3, after being on since time 0.
    assert dvfs.slatah == pytest.approx(0.5)
    assert dvfs.pdm == 0 and dvfs.slav == 0 and dvfs.esv == 0 and dvfs.migrations == 0
    assert dvfs.host_shutdowns == 1
    assert dvfs.mean_time_before_host_shutdown_s == pytest.approx(900.1)


def test_npa_draws_full_power_from_time_zero():
    npa = replay(UTILIZATION, FLEET, VM_TYPES, ReplayPolicy("npa"), "cloudsim-3.0-paper")
    assert npa.energy_kwh == pytest.approx((200 + 100) * 900.1 / 3.6e6)
    assert npa.step_hosts_active.tolist() == [2, 2, 2]
    assert npa.host_shutdowns == 0


@pytest.mark.parametrize(
    ("semantics", "removed"),
    [
        # The sample itself at steps: VM 0's lone zero at sample 2 removes it there.
        ("cloudsim-3.0-paper", 2),
        # Interpolated: at 600.1 VM 0 is 0 + 0.7/300·0.1 > 0; only VM 1 (zero twice, the last
        # sample held) reaches 0, at 900.1.
        ("cloudsim-3.0", 1),
    ],
)
def test_a_vm_vanishes_when_its_request_reaches_zero(semantics, removed):
    utilization = np.array([[0.5, 0.4, 0.0, 0.7], [0.5, 0.4, 0.3, 0.0], [0.5, 0.4, 0.3, 0.2]])
    result = replay(utilization, FLEET, VM_TYPES, ReplayPolicy("dvfs"), semantics)
    assert result.vms_removed == removed


def test_interpolated_demand_at_steps():
    # Steps at 300.1, 600.1, 900.1: the sample itself, or the line to the next sample 0.1 s on
    # (the last sample held past the end).
    utilization = np.array([[0.2, 0.5, 1.0, 0.4]])
    paper, shipped = (SEMANTICS_PROFILES[name] for name in ("cloudsim-3.0-paper", "cloudsim-3.0"))
    assert step_utilization(utilization, 300, paper).tolist() == [[0.5, 1.0, 0.4]]
    assert step_utilization(utilization, 300, shipped)[0] == pytest.approx(
        [0.5 + 0.5 / 3000, 1.0 - 0.6 / 3000, 0.4]
    )


def test_oversubscribed_shares_are_scaled_and_rounded_down():
    # One host of 2 cores × 1000. VM a asks 1200 (capped at a core's 1000), b 700, c 500:
    # 2200 > 2000, so every share is scaled by 2000/2200 and rounded down: 909, 636, 454.
    allocation = allocate_mips(
        slot=np.array([0, 0, 0]),
        requested_mips_per_pe=np.array([1200.0, 700.0, 500.0]),
        vm_pes=np.ones(3),
        slot_pe_mips=np.array([1000.0]),
        slot_capacity_mips=np.array([2000.0]),
    )
    assert allocation.vm_allocated_mips.tolist() == [909, 636, 454]
    assert allocation.slot_allocated_mips.tolist() == [1999]
    assert allocation.slot_requested_mips.tolist() == [2400]
    assert allocation.slot_oversubscribed.tolist() == [True]


def test_migration_shares():
    # Slot 0 fits: a moving out keeps 0.9·600 = 540 (the host counts 600), b moving in costs
    # 0.1·500 = 50 and is requested at 500. Slot 1 of 1000 MIPS: a out asks 1000, b in needs
    # 0.1·1000 = 100: 1100 > 1000, scale 1000/1100: a floor(1000·0.909…·0.9) = 818,
    # b floor(1000·0.1·0.909…) = 90; the host counts 818/0.9 + 90.
    allocation = allocate_mips(
        slot=np.array([0, 0, 1, 1]),
        requested_mips_per_pe=np.array([600.0, 500.0, 1000.0, 1000.0]),
        vm_pes=np.ones(4),
        slot_pe_mips=np.array([1000.0, 1000.0]),
        slot_capacity_mips=np.array([2000.0, 1000.0]),
        incoming=np.array([False, True, False, True]),
        outgoing=np.array([True, False, True, False]),
    )
    assert allocation.vm_allocated_mips == pytest.approx([540, 50, 818, 90])
    assert allocation.slot_allocated_mips == pytest.approx([600 + 50, 818 / 0.9 + 90])
    assert allocation.slot_requested_mips.tolist() == [1100, 2000]
    assert allocation.slot_oversubscribed.tolist() == [False, True]


def test_a_vm_with_two_cores_is_capped_per_core():
    # 2 cores asking 1500 each on cores of 1000: each capped at 1000, 2000 fits a 4000 host.
    allocation = allocate_mips(
        slot=np.array([0]),
        requested_mips_per_pe=np.array([1500.0]),
        vm_pes=np.array([2.0]),
        slot_pe_mips=np.array([1000.0]),
        slot_capacity_mips=np.array([4000.0]),
    )
    assert allocation.vm_allocated_mips.tolist() == [2000]
    assert allocation.slot_requested_mips.tolist() == [3000]


def test_the_run_ends_when_no_vm_has_demand_left():
    # Every VM asks 0 at step 2: CloudSim schedules no further step, so NPA stops charging
    # at 600.1 s and the result holds two steps.
    utilization = np.array([[0.5, 0.4, 0.0, 0.7], [0.5, 0.4, 0.0, 0.0], [0.5, 0.2, 0.0, 0.2]])
    npa = replay(utilization, FLEET, VM_TYPES, ReplayPolicy("npa"), "cloudsim-3.0-paper")
    assert np.allclose(npa.step_time_s, [300.1, 600.1])
    assert npa.energy_kwh == pytest.approx((200 + 100) * 600.1 / 3.6e6)
    assert npa.vms_removed == 3 and npa.step_vms_alive.tolist() == [3, 0]
