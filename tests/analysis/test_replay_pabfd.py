"""PABFD and the decision step's bookkeeping on three hosts, every cost worked out by hand."""

from __future__ import annotations

import numpy as np

from stackmeter.analysis.replay.detectors import threshold
from stackmeter.analysis.replay.migration import _Decision, _Fixed, _Policy, _SchedulerMaps
from stackmeter.analysis.replay.selection import minimum_migration_time

# Host 0: one core of 1000 MIPS, P(u) = 100 + 100u W. Hosts 1 and 2: two cores of 1000 MIPS,
# P(u) = 50 + 50u W (straight lines, so a cost is the slope × the load added).
ONE = [100 + 10.0 * i for i in range(11)]
TWO = [50 + 5.0 * i for i in range(11)]
FIXED = _Fixed(
    capacity=np.array([1000.0, 2000.0, 2000.0]),
    pe_mips=np.array([1000.0, 1000.0, 1000.0]),
    group=np.array([0, 1, 1]),
    table_w=np.array([ONE, TWO]),
    link_mb_s=np.full(3, 62.5),
    vm_mips_pe=np.array([1000.0, 1000.0, 1000.0, 1000.0]),
    vm_pes=np.ones(4),
    vm_ram=np.array([613.0, 613.0, 613.0, 613.0]),
)


def decision(limit: float) -> _Decision:
    """Host 1 runs VMs 0 and 1 (500 MIPS each, load 1000 of 2000); hosts 0 and 2 are empty.

    VMs 2 and 3 (300 MIPS each) are looking for a host.
    """
    policy = _Policy(threshold, limit, minimum_migration_time, False, 300.0, np.random.default_rng(0))
    requested = np.array([500.0, 500.0, 300.0, 300.0])
    maps = _SchedulerMaps(np.array([0, 2, 0]), np.zeros(4, dtype=np.int64), np.zeros(3, dtype=bool))
    return _Decision(
        FIXED, policy, [[], [0, 1], []], requested, np.zeros((4, 1)), np.array([0.0, 1000.0, 0.0]), maps
    )


def test_cheapest_host_with_ties_to_the_lowest_id():
    # VM 2 (300 MIPS): host 0 costs P(0.3) − P(0) = 30 W; host 1 P(0.65) − P(0.5) = 7.5 W;
    # host 2 P(0.15) − P(0) = 7.5 W. Tie: the lower id, host 1 (its check: 1300/2000 = 0.65 ≤ 0.8).
    state = decision(0.8)
    assert state.find_host(2, np.zeros(3, dtype=bool)) == 1


def test_a_loaded_target_is_checked_an_empty_one_is_not():
    # Under THR 0.6, host 1 with VM 2 would be at 0.65 > 0.6: skipped. Host 2 was empty at the
    # start of the step, so it is not checked at all and takes VM 2.
    state = decision(0.6)
    assert state.find_host(2, np.zeros(3, dtype=bool)) == 2
    state.add(2, 2)
    # Its load stays the one of the start of the step (0): VM 3 costs P(0.15) − P(0) = 7.5 W
    # there again and is not checked either, though host 2 now runs 600 of 2000 MIPS.
    assert state.find_host(3, np.zeros(3, dtype=bool)) == 2
    assert state.sum_requested[2] == 300.0 and state.free[2] == 1700.0


def test_excluded_and_unsuitable_hosts():
    state = decision(0.8)
    excluded = np.array([False, True, False])
    assert state.find_host(2, excluded) == 2
    # 1200 MIPS fit on no single core of 1000: no host.
    state.requested[3] = 1200.0
    assert state.find_host(3, np.zeros(3, dtype=bool)) == -1


def test_removal_recomputes_the_host():
    state = decision(0.8)
    state.remove(0, 1)
    assert state.lists[1] == [1]
    assert state.sum_requested[1] == 500.0 and state.free[1] == 1500.0
    assert not state.overloaded(np.array([1]))[0]
