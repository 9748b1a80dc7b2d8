"""Memory in the replay: memory overload measured against numpy over the raw Bitbrains files, the
memory-aware policies (``-mem``), Placement's RAM allocation ratio, and the history of multi-core VMs.
"""

from __future__ import annotations

import gzip
import math
from pathlib import Path

import numpy as np
import pytest

from stackmeter.analysis.replay import parse_policy, replay
from stackmeter.analysis.replay.inputs import MemoryLimit
from stackmeter.analysis.replay.inventory import expand_hosts, expand_vms
from stackmeter.analysis.replay.migration import _Fixed, _history_window
from stackmeter.analysis.replay.placement import place_first_fit, place_power_aware_at_creation
from stackmeter.errors import ConfigError
from stackmeter.models.replay import Fleet, HostGroup, HostType, PowerCurve, ReplayPolicy, VmType, VmTypes

MONTH = Path(__file__).parents[1] / "fixtures" / "bitbrains" / "2013-8"
MB = 2**20
WATTS = PowerCurve((58.4, 98, 109, 118, 128, 140, 153, 170, 189, 205, 222))


def raw_month() -> tuple[np.ndarray, np.ndarray, list[VmType]]:
    """CPU utilization and memory in use (MB) per 5-minute window, straight from the CSVs with numpy.

    The first of rows with one timestamp counts; a window without a row holds the one before.
    """
    tables = []
    for path in sorted(MONTH.glob("*.csv.gz")):
        with gzip.open(path, "rt") as text:
            table = np.genfromtxt(text, delimiter=";", skip_header=1)
        _, first = np.unique(table[:, 0], return_index=True)
        tables.append(table[np.sort(first)])
    start = min(int(t[:, 0].min()) for t in tables) // 300 * 300
    windows = (max(int(t[:, 0].max()) for t in tables) - start) // 300 + 1
    cpu = np.zeros((len(tables), windows))
    memory = np.zeros((len(tables), windows))
    types = []
    for row, table in enumerate(tables):
        window = (table[:, 0].astype(np.int64) - start) // 300
        counts = np.bincount(window, minlength=windows)
        capacity = table[:, 2].max()
        for target, values in ((cpu, table[:, 3] / capacity), (memory, table[:, 6] * 1024 / MB)):
            sums = np.bincount(window, weights=values, minlength=windows)
            filled = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
            for k in range(windows):  # hold the previous window; before the first, the first known
                if np.isnan(filled[k]):
                    filled[k] = filled[k - 1] if k else filled[~np.isnan(filled)][0]
            target[row] = filled
        cores = int(table[:, 1].max())
        types.append(VmType(f"vm{row}", capacity / cores, cores, table[:, 5].max() * 1024 / MB, 1000))
    return cpu, memory, types


@pytest.fixture(scope="module")
def month():
    return raw_month()


def fleet(hosts: int, ram_gib: float, ratio: float = math.inf, pes: int = 16) -> Fleet:
    host = HostType("x3550", pes, 3066, ram_gib * 1024, 10_000, WATTS, ratio)
    return Fleet("test", (HostGroup(host, hosts),), "grouped")


def test_memory_overload_is_the_share_of_time_the_vms_use_more_than_the_hosts_ram(month):
    # On one host every VM is on it, so the share is independent of placement: the steps whose
    # summed memory (the sample each step falls in) exceeds the RAM, over the steps with some
    # CPU allocated (each holding until the next; the last holds no time).
    cpu, memory, types = month
    ram_gib = 24.0
    result = replay(
        cpu, fleet(1, ram_gib, pes=64), VmTypes(tuple(types), "round-robin"), ReplayPolicy("dvfs"),
        "stackmeter", 300, memory_mb=memory,
    )  # fmt: skip
    steps = cpu.shape[1] - 1
    used = memory[:, 1:].sum(axis=0)
    active = cpu[:, 1:].sum(axis=0) > 0
    over = (used > ram_gib * 1024) & active
    expected = over[:-1].sum() / active[:-1].sum()
    assert 0.001 < expected < 0.5  # the day has some overload, and is not all overload
    assert result.memory_overload == pytest.approx(expected, rel=1e-12)
    assert result.step_hosts_memory_overloaded.tolist() == over[:steps].astype(int).tolist()


def test_a_migrating_replay_counts_memory_the_same_way_on_one_host(month):
    cpu, memory, types = month
    result = replay(
        cpu, fleet(1, 24.0, pes=64), VmTypes(tuple(types), "round-robin"), parse_policy("lr-mmt-1.2"),
        "stackmeter", 300, memory_mb=memory,
    )  # fmt: skip
    used = memory[:, 1:].sum(axis=0)
    active = cpu[:, 1:].sum(axis=0) > 0
    over = (used > 24.0 * 1024) & active
    assert result.migrations == 0
    # Events fall 0.1 s after each sample, so every interval is 300 s, as in the static count.
    assert result.memory_overload == pytest.approx(over[:-1].sum() / active[:-1].sum(), rel=1e-9)


def test_without_memory_there_is_no_memory_overload(month):
    cpu, _, types = month
    result = replay(
        cpu[:, :50], fleet(2, 24.0), VmTypes(tuple(types), "round-robin"), parse_policy("thr-mmt-0.8")
    )
    assert math.isnan(result.memory_overload) and result.step_hosts_memory_overloaded is None


def test_a_memory_aware_policy_keeps_memory_within_the_hosts_ram(month):
    # Counting each VM at the most memory it ever uses, hosts that keep the sum within 90 % of
    # their RAM can never run out of it; the same policy counting CPU only does, on the same days.
    cpu, memory, types = month
    vm_types = VmTypes(tuple(types), "round-robin")
    hosts = fleet(4, 24.0)
    cpu_only = replay(cpu, hosts, vm_types, parse_policy("lr-mmt-1.2"), "stackmeter", 300, memory_mb=memory)
    aware = replay(
        cpu, hosts, vm_types, parse_policy("lr-mmt-1.2-mem"), "stackmeter", 300,
        memory_mb=memory, memory_demand_mb=memory.max(axis=1),
    )  # fmt: skip
    assert cpu_only.memory_overload > 0.001
    assert aware.memory_overload == 0.0
    assert aware.policy == "lr-mmt-1.2-mem"


def test_the_memory_demand_defaults_to_each_vms_95th_percentile(month):
    cpu, memory, types = month
    vm_types = VmTypes(tuple(types), "round-robin")
    hosts = fleet(4, 24.0)
    by_default = replay(
        cpu, hosts, vm_types, parse_policy("thr-fit-0.8-mem"), "stackmeter", 300, memory_mb=memory
    )
    given = replay(
        cpu, hosts, vm_types, parse_policy("thr-fit-0.8-mem"), "stackmeter", 300,
        memory_mb=memory, memory_demand_mb=np.percentile(memory, 95, axis=1),
    )  # fmt: skip
    assert (by_default.energy_kwh, by_default.migrations) == (given.energy_kwh, given.migrations)
    assert by_default.memory_overload == given.memory_overload


def test_creation_respects_the_memory_demand_and_the_allocation_ratio():
    # Hosts of 4096 MB; VMs of 3000 MB RAM using 1000 / 3000 / 500 MB.
    hosts = expand_hosts(fleet(3, 4.0, ratio=2.0))
    vms = expand_vms(VmTypes((VmType("vm", 1000, 1, 3000, 100),), "round-robin"), 3)
    # Ratio 2: 8192 MB of VMs' RAM per host, so two of 3000 share host 0, the third goes to host 1.
    assert place_first_fit(hosts, vms).tolist() == [0, 0, 1]
    assert place_power_aware_at_creation(hosts, vms).tolist() == [0, 0, 1]
    # A memory limit of 3500 MB per host: 1000 + 3000 is too much, 1000 + 500 is not.
    limit = MemoryLimit(np.array([1000.0, 3000.0, 500.0]), np.full(3, 3500.0))
    assert place_power_aware_at_creation(hosts, vms, limit).tolist() == [0, 1, 0]
    with pytest.raises(ConfigError, match=r"VM 1 .*3000 MB of memory in use\) fits on none"):
        place_power_aware_at_creation(
            hosts, vms, MemoryLimit(np.array([1000.0, 3000.0, 500.0]), np.full(3, 2900.0))
        )


def test_ratio_one_is_the_flavors_ram():
    hosts = expand_hosts(fleet(2, 4.0, ratio=1.0))
    vms = expand_vms(VmTypes((VmType("vm", 1000, 1, 3000, 100),), "round-robin"), 2)
    assert hosts.ram_limit_mb.tolist() == [4096.0, 4096.0]
    assert place_first_fit(hosts, vms).tolist() == [0, 1]


def test_a_hosts_history_counts_every_core_under_the_stackmeter_profile():
    # Two VMs, of 1 and 8 cores of 2000 MIPS, at 0.5: CloudSim's history counts 1000 MIPS for
    # each (one core), stackmeter's 1000 and 8000.
    utilization = np.full((2, 3), 0.5)
    fixed = _Fixed(*[np.zeros(1)] * len(_Fixed._fields))._replace(
        vm_mips_pe=np.array([2000.0, 2000.0]), vm_pes=np.array([1.0, 8.0])
    )
    assert _history_window(utilization, 2, fixed, False)[:, 0].tolist() == [1000.0, 1000.0]
    assert _history_window(utilization, 2, fixed, True)[:, 0].tolist() == [1000.0, 8000.0]
    assert _history_window(utilization, 2, fixed, True).shape == (2, 3)


@pytest.mark.parametrize(
    ("text", "policy"),
    [
        ("lr-fit-1.1-cap0.75-mem", ReplayPolicy("lr", "fit", 1.1, 0.75, True)),
        ("thr-mmt-0.8-mem", ReplayPolicy("thr", "mmt", 0.8, None, True)),
        ("LR-MMT-1.2", ReplayPolicy("lr", "mmt", 1.2)),
    ],
)
def test_memory_aware_policies_are_spelled_with_mem(text, policy):
    assert parse_policy(text) == policy
    assert parse_policy(policy.label) == policy


@pytest.mark.parametrize("text", ["dvfs-mem", "lr-mmt-mem", "lr-mem-1.2", "lr-mmt-1.2-mem-cap0.5", "mem"])
def test_a_misspelled_memory_aware_policy_is_refused_with_the_grammar(text):
    with pytest.raises(ConfigError, match="-mem"):
        parse_policy(text)


def test_a_static_policy_cannot_be_memory_aware(month):
    cpu, _, types = month
    with pytest.raises(ConfigError, match="memory awareness"):
        replay(
            cpu[:, :10],
            fleet(2, 24.0),
            VmTypes(tuple(types), "round-robin"),
            ReplayPolicy("dvfs", memory_aware=True),
        )


@pytest.mark.parametrize(
    ("memory", "demand", "message"),
    [
        (np.zeros((4, 9)), None, r"memory_mb must have the shape \(4, 10\)"),
        (
            np.where(np.eye(4, 10) > 0, np.nan, 1.0),
            None,
            r"memory_mb has 4 values .*first: VM 0, sample 0: nan",
        ),
        (np.full((4, 10), -1.0), None, "memory_mb has 40 values that are missing, infinite or negative"),
        (np.ones((4, 10)), np.array([1.0, 2.0]), r"memory_demand_mb must have the shape \(1, 4\)"),
        (
            np.ones((4, 10)),
            np.array([1.0, 2.0, np.inf, 3.0]),
            r"memory_demand_mb has 1 values .*first: VM 2: inf",
        ),
    ],
)
def test_bad_memory_is_refused_naming_what_and_where(month, memory, demand, message):
    cpu, _, types = month
    with pytest.raises(ConfigError, match=message):
        replay(
            cpu[:, :10], fleet(2, 24.0), VmTypes(tuple(types), "round-robin"), parse_policy("thr-mmt-0.8-mem"),
            "stackmeter", 300, memory_mb=memory, memory_demand_mb=demand,
        )  # fmt: skip


# -- the stackmeter profile: hosts holding idle VMs stay on, and waking one costs energy -------


def test_a_host_holding_idle_vms_stays_on_at_its_idle_watts():
    # One host of 2 × 1000 MIPS, P(u) = 100 + 100u W; one VM of 1000 MIPS at 0, 0, 0.5, 0.5 at the
    # steps (t = 300.1, 600.1, 900.1, 1200.1). Under stackmeter's rules the host stays on: 100 W
    # for 300 s, 100 → 125 W for 300 s, 125 W for 300 s. CloudSim's VM vanishes at its first 0.
    host = HostType("line", 2, 1000, 4096, 1000, PowerCurve(tuple(100 + 10.0 * i for i in range(11))))
    fleet_ = Fleet("one", (HostGroup(host, 1),), "grouped")
    vm_types = VmTypes((VmType("vm", 1000, 1, 1024, 100),), "round-robin")
    utilization = np.array([[0.5, 0.0, 0.0, 0.5, 0.5]])
    stackmeter = replay(utilization, fleet_, vm_types, ReplayPolicy("dvfs"), "stackmeter")
    expected_j = 100 * 300 + (100 + 125) / 2 * 300 + 125 * 300
    assert stackmeter.energy_kwh == pytest.approx(expected_j / 3.6e6, rel=1e-12)
    assert stackmeter.step_hosts_active.tolist() == [1, 1, 1, 1]
    assert (stackmeter.host_shutdowns, stackmeter.host_wakes, stackmeter.vms_removed) == (0, 0, 0)
    cloudsim = replay(utilization, fleet_, vm_types, ReplayPolicy("dvfs"), "cloudsim-3.0-paper")
    assert cloudsim.energy_kwh == 0.0 and cloudsim.vms_removed == 1


def test_waking_a_host_costs_its_wake_time_at_full_power(month):
    # The decisions do not depend on the wake time, so the energy differs by exactly the wakes
    # times the wake time times the full-load watts (222 W).
    cpu, memory, types = month
    vm_types = VmTypes(tuple(types), "round-robin")
    free = replay(cpu, fleet(4, 64.0), vm_types, parse_policy("thr-mmt-0.5"), "stackmeter", 300)
    host = HostType("x3550", 16, 3066, 64 * 1024, 10_000, WATTS, math.inf, 120.0)
    costly = replay(
        cpu,
        Fleet("test", (HostGroup(host, 4),), "grouped"),
        vm_types,
        parse_policy("thr-mmt-0.5"),
        "stackmeter",
        300,
    )
    assert costly.migrations == free.migrations and costly.host_wakes == free.host_wakes > 0
    assert costly.energy_kwh - free.energy_kwh == pytest.approx(
        free.host_wakes * 120.0 * 222 / 3.6e6, rel=1e-9
    )
    # CloudSim's rules wake for free and count none.
    paper = replay(
        cpu, Fleet("test", (HostGroup(host, 4),), "grouped"), vm_types, parse_policy("thr-mmt-0.5")
    )
    assert paper.host_wakes == 0
