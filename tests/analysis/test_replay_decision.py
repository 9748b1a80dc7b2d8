"""The compiled decision step: PABFD and its bookkeeping on three hosts, every cost worked out by hand,
and its detectors against the vectorised ones of ``detectors.py`` on real host histories."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stackmeter.analysis.replay import decision
from stackmeter.analysis.replay.detectors import (
    DETECTORS,
    NEEDS_HISTORY,
    REGRESSION_VALUES,
    HostView,
    prediction_weights,
    tricube_weights,
)
from stackmeter.analysis.replay.power import host_power_w

# Host 0: one core of 1000 MIPS, P(u) = 100 + 100u W. Hosts 1 and 2: two cores of 1000 MIPS,
# P(u) = 50 + 50u W (straight lines, so a cost is the slope × the load added).
ONE = [100 + 10.0 * i for i in range(11)]
TWO = [50 + 5.0 * i for i in range(11)]
PLANETLAB = Path(__file__).parents[1] / "fixtures" / "planetlab"


def step(
    detector: str,
    parameter: float,
    lists: list[list[int]],
    requested: list[float],
    load_mips: list[float],
    history_mips: np.ndarray | None = None,
    capacity: list[float] | None = None,
) -> decision.Step:
    """A decision step over hosts of the three above (or of ``capacity``), its sums started."""
    capacity_mips = np.array(capacity or [1000.0, 2000.0, 2000.0])
    hosts = len(capacity_mips)
    vms = len(requested)
    history = np.zeros((vms, 1)) if history_mips is None else history_mips
    width = max(vms, 1)
    table = np.zeros((hosts, width), dtype=np.int64)
    for host, vm_ids in enumerate(lists):
        table[host, : len(vm_ids)] = vm_ids
    host_utilization = np.array(load_mips) / capacity_mips
    group = np.array([0] + [1] * (hosts - 1))
    table_w = np.array([ONE, TWO])
    return decision.begin(
        np.zeros(hosts, dtype=bool),
        capacity=capacity_mips,
        pe_mips=np.full(hosts, 1000.0),
        group=group,
        table_w=table_w,
        link_mb_s=np.full(hosts, 62.5),
        vm_pes=np.ones(vms),
        vm_ram=np.full(vms, 613.0),
        vm_mips_pe=np.full(vms, 1000.0),
        hashes=np.zeros(vms, dtype=np.int64),
        policy=np.array(
            [
                decision.DETECTOR_CODES[detector],
                parameter,
                300.0,
                float(detector in NEEDS_HISTORY),
                np.inf,
                0.0,
                0.0,
            ]
        ),
        lr_weights=np.array([prediction_weights(float(a)) for a in range(3)]),
        sigma=np.ascontiguousarray(tricube_weights()),
        utilization=np.array(requested) / 1000.0,
        requested=np.array(requested),
        per_pe=np.array(requested),
        history_mips=history,
        load_mips=np.array(load_mips),
        host_utilization=host_utilization,
        power_now=np.array(
            [host_power_w(table_w, g, u) for g, u in zip(group, host_utilization, strict=True)]
        ),
        lists=table,
        list_len=np.array([len(vm_ids) for vm_ids in lists], dtype=np.int64),
        map_entries=np.array([len(vm_ids) for vm_ids in lists], dtype=np.int64),
        host_ram=np.full(hosts, 4096.0),
        vm_memory=np.full(vms, 400.0),
        host_memory=np.full(hosts, np.inf),
    )


def three_hosts(limit: float) -> decision.Step:
    """Host 1 runs VMs 0 and 1 (500 MIPS each, load 1000 of 2000); hosts 0 and 2 are empty.

    VMs 2 and 3 (300 MIPS each) are looking for a host.
    """
    return step("thr", limit, [[], [0, 1], []], [500.0, 500.0, 300.0, 300.0], [0.0, 1000.0, 0.0])


NOWHERE = np.zeros(3, dtype=bool)


def test_cheapest_host_with_ties_to_the_lowest_id():
    # VM 2 (300 MIPS): host 0 costs P(0.3) − P(0) = 30 W; host 1 P(0.65) − P(0.5) = 7.5 W;
    # host 2 P(0.15) − P(0) = 7.5 W. Tie: the lower id, host 1 (its check: 1300/2000 = 0.65 ≤ 0.8).
    assert decision.find_host(three_hosts(0.8), 2, NOWHERE) == 1


def test_a_loaded_target_is_checked_an_empty_one_is_not():
    # Under THR 0.6, host 1 with VM 2 would be at 0.65 > 0.6: skipped. Host 2 was empty at the
    # start of the step, so it is not checked at all and takes VM 2.
    state = three_hosts(0.6)
    assert decision.find_host(state, 2, NOWHERE) == 2
    decision.add(state, 2, 2)
    # Its load stays the one of the start of the step (0): VM 3 costs P(0.15) − P(0) = 7.5 W
    # there again and is not checked either, though host 2 now runs 600 of 2000 MIPS.
    assert decision.find_host(state, 3, NOWHERE) == 2
    assert state.sum_requested[2] == 300.0 and state.free[2] == 1700.0


def test_excluded_and_unsuitable_hosts():
    state = three_hosts(0.8)
    assert decision.find_host(state, 2, np.array([False, True, False])) == 2
    # 1200 MIPS fit on no single core of 1000: no host.
    state.requested[3] = 1200.0
    state.per_pe[3] = 1200.0
    assert decision.find_host(state, 3, NOWHERE) == -1


def test_removal_recomputes_the_host():
    state = three_hosts(0.8)
    decision.remove(state, 0, 1)
    assert state.lists[1, : state.list_len[1]].tolist() == [1]
    assert state.sum_requested[1] == 500.0 and state.free[1] == 1500.0
    assert not decision.overloaded(state, 1, -1)


def test_evacuation_stops_once_the_host_is_fine():
    # Host 1 at 1000 + 300 = 1300 of 2000 under THR 0.5: MMT takes the first listed on equal RAM
    # (VM 0), leaving 800 / 2000 = 0.4 ≤ 0.5; VM 1 stays.
    state = step("thr", 0.5, [[], [0, 1, 2], []], [500.0, 500.0, 300.0], [0.0, 1300.0, 0.0])
    flagged = decision.overloaded_hosts(state)
    assert flagged.tolist() == [False, True, False]
    assert decision.evacuate_overloaded(state, flagged, decision.MINIMUM_MIGRATION_TIME).tolist() == [0]
    # MU instead takes the least utilized: VM 2 (0.3), leaving 1000 / 2000 = 0.5, not above 0.5.
    state = step("thr", 0.5, [[], [0, 1, 2], []], [500.0, 500.0, 300.0], [0.0, 1300.0, 0.0])
    assert decision.evacuate_overloaded(state, flagged, decision.MINIMUM_UTILIZATION).tolist() == [2]


def test_underload_consolidation_is_all_or_nothing():
    # Host 0 (1000 MIPS) runs VM 0 at 600, host 1 runs VM 1 at 300, host 2 is off. Least loaded
    # first: host 1 (0.15) moves VM 1 to host 0 (it costs P(0.9) − P(0.6) = 30 W there, 7.5 W on
    # host 2, but host 2 is off, so not a target). Host 0 received a VM: no longer a source.
    state = step("thr", 1.0, [[0], [1], []], [600.0, 300.0], [600.0, 300.0, 0.0])
    moves = decision.consolidate_underloaded(state, np.zeros(3, dtype=bool))
    assert moves.tolist() == [[1, 0]]
    # With THR 0.8, host 0 would be at 0.9 with VM 1: nowhere to go, so nothing moves.
    state = step("thr", 0.8, [[0], [1], []], [600.0, 300.0], [600.0, 300.0, 0.0])
    assert decision.consolidate_underloaded(state, np.zeros(3, dtype=bool)).tolist() == []


def real_histories(rows: int = 240) -> np.ndarray:
    """Host-like histories (newest first, 30 values) summed from the real PlanetLab fixture traces."""
    files = sorted(path for path in PLANETLAB.rglob("*") if path.is_file())
    traces = np.array([np.loadtxt(path)[:288] for path in files]) / 100.0
    rng = np.random.default_rng(7)
    histories = np.empty((rows, 30))
    for row in range(rows):
        picked = rng.choice(len(traces), size=int(rng.integers(1, 6)), replace=False)
        start = int(rng.integers(0, traces.shape[1] - 30))
        summed = traces[picked, start : start + 30].sum(axis=0)[::-1]
        # Scaled to a mean load between 0.3 and 1.0, so that every detector says both yes and no.
        histories[row] = summed / max(summed.mean(), 0.01) * rng.uniform(0.3, 1.0)
    # Some short histories (a run's first steps, trailing zeros) and a flat one.
    for row in range(20):
        histories[row, 8 + row :] = 0.0
    histories[20] = 0.5
    return histories


@pytest.mark.parametrize(
    ("name", "parameter"), [("thr", 0.8), ("iqr", 1.5), ("mad", 2.5), ("lr", 1.2), ("lrr", 1.2)]
)
def test_compiled_detectors_agree_with_the_vectorised_ones(name: str, parameter: float):
    """Bit for bit on the decisions and, for LRR, the predicted value: the same arithmetic in the same order."""
    histories = real_histories()
    rows = len(histories)
    loads = np.linspace(0.3, 1.05, rows)
    capacity = [1000.0] * rows
    # One VM per host, its history × 1000 MIPS ÷ 1000: the host's history is the row itself.
    state = step(
        name,
        parameter,
        [[row] for row in range(rows)],
        (loads * 1000.0).tolist(),
        (loads * 1000.0).tolist(),
        history_mips=np.ascontiguousarray(histories * 1000.0),
        capacity=capacity,
    )
    nonzero = histories != 0
    lengths = np.where(nonzero.any(axis=1), 30 - np.argmax(nonzero[:, ::-1], axis=1), 0)
    view = HostView(
        load=loads,
        history=histories,
        lengths=lengths,
        migration_intervals=np.ceil(613.0 / 62.5 / 300.0) * np.ones(rows),
    )
    expected = DETECTORS[name](view, parameter)
    assert decision.overloaded_hosts(state).tolist() == expected.tolist()
    # One host at a time, as PABFD and the selections ask (their own paths for LR, IQR and MAD).
    assert [bool(decision.overloaded(state, row, -1)) for row in range(rows)] == expected.tolist()
    # Both outcomes occur, so the comparison means something.
    assert 0 < expected.sum() < rows
    if name == "lrr":
        from stackmeter.analysis.replay.detectors import _robust_refit, weighted_line

        long = lengths >= REGRESSION_VALUES
        y = histories[long][:, REGRESSION_VALUES - 1 :: -1]
        _, _, residuals = weighted_line(y, tricube_weights())
        intercept, slope = _robust_refit(y, tricube_weights(), residuals)
        vectorised = intercept + slope * (REGRESSION_VALUES + 1.0)
        compiled = [decision._robust_prediction(np.ascontiguousarray(row), state.sigma, 1.0) for row in y]
        assert np.array_equal(vectorised, np.array(compiled), equal_nan=True)


def test_pairwise_sum_is_numpys():
    values = np.random.default_rng(3).random((200, 30)) * 1e3
    for n in (1, 7, 8, 10, 17, 30):
        assert [decision.pairwise_sum(np.ascontiguousarray(row[:n])) for row in values] == values[:, :n].sum(
            axis=1
        ).tolist()


def test_fit_takes_the_smallest_vm_whose_removal_ends_the_overload():
    # Host 1 (2000 MIPS) under THR 0.5 runs VM 0 (300 MIPS, 512 MB), VM 1 (800, 1024 MB) and
    # VM 2 (200, 613 MB): 1300 / 2000 = 0.65. Without VM 0: 0.5 (fine); without VM 1: 0.25
    # (fine); without VM 2: 0.55 (still overloaded). Of VMs 0 and 1, VM 0 has the least RAM.
    state = step("thr", 0.5, [[], [0, 1, 2], []], [300.0, 800.0, 200.0], [0.0, 1300.0, 0.0])
    state.vm_ram[:] = [512.0, 1024.0, 128.0]
    flagged = decision.overloaded_hosts(state)
    assert decision.evacuate_overloaded(state, flagged, decision.REMOVAL_FIT).tolist() == [0]
    # MMT takes VM 2 (least RAM), which does not end the overload, then VM 0: two migrations.
    state = step("thr", 0.5, [[], [0, 1, 2], []], [300.0, 800.0, 200.0], [0.0, 1300.0, 0.0])
    state.vm_ram[:] = [512.0, 1024.0, 128.0]
    assert decision.evacuate_overloaded(state, flagged, decision.MINIMUM_MIGRATION_TIME).tolist() == [2, 0]


def test_fit_falls_back_to_mmt_when_no_single_removal_is_enough():
    # 1900 / 2000 under THR 0.5: no one VM brings the host to 0.5, so the least RAM goes first.
    state = step("thr", 0.5, [[], [0, 1, 2], []], [700.0, 600.0, 600.0], [0.0, 1900.0, 0.0])
    state.vm_ram[:] = [512.0, 256.0, 1024.0]
    flagged = decision.overloaded_hosts(state)
    assert decision.evacuate_overloaded(state, flagged, decision.REMOVAL_FIT).tolist()[0] == 1


def test_the_evacuation_cap_refuses_targets_that_would_end_too_loaded():
    # As in the all-or-nothing test: host 1's VM 1 (300) would go to host 0 (600 of 1000), which
    # would then be at 0.9. A cap of 0.85 refuses that target; host 1 stays on.
    state = step("thr", 1.0, [[0], [1], []], [600.0, 300.0], [600.0, 300.0, 0.0])
    state.policy[4] = 0.85
    assert decision.consolidate_underloaded(state, np.zeros(3, dtype=bool)).tolist() == []
    state = step("thr", 1.0, [[0], [1], []], [600.0, 300.0], [600.0, 300.0, 0.0])
    state.policy[4] = 0.9
    assert decision.consolidate_underloaded(state, np.zeros(3, dtype=bool)).tolist() == [[1, 0]]


def test_the_cap_counts_what_the_step_already_placed():
    # Host 0 received VM 2 (50) earlier in the step: 600 + 50 + 300 = 950 > 0.9 × 1000, though
    # without VM 2 it would be 900, within the cap.
    state = step("thr", 1.0, [[0], [1], []], [600.0, 300.0, 50.0], [600.0, 300.0, 0.0])
    assert decision.find_host(state, 1, np.array([False, True, True]), 0.9) == 0
    decision.add(state, 2, 0)
    assert decision.find_host(state, 1, np.array([False, True, True]), 0.9) == -1
    assert decision.find_host(state, 1, np.array([False, True, True]), 0.95) == 0


def test_memory_limits_a_target_under_the_stackmeter_profile():
    # Host 1 holds VMs 0 and 1 (613 MB each); VM 2 (613 MB) would fit its MIPS. With 1536 MB of
    # RAM, host 1 has 310 MB left: under CloudSim's rule RAM is not checked, under stackmeter's it is.
    state = three_hosts(0.8)
    state.host_ram[:] = [4096.0, 1536.0, 4096.0]
    assert decision.find_host(state, 2, NOWHERE) == 1
    state.policy[5] = 1.0
    assert decision.find_host(state, 2, NOWHERE) == 2
    # Taking VM 0 off host 1 gives its RAM back.
    decision.remove(state, 0, 1)
    assert state.sum_ram[1] == 613.0
    assert decision.find_host(state, 2, NOWHERE) == 1


def test_a_host_left_by_a_vm_re_adds_the_others_in_hashmap_order():
    # One host of 3720 MIPS (a G4's 2 × 1860) runs VMs 0 (3000), 1 (1000) and 2 (10). Once VM 2
    # leaves, the scheduler re-adds the others one by one: 3000 fits (720 left), 1000 does not,
    # so the host counts as over-subscribed and has nothing free; with VM 1 at 700 it has 20.
    for requested, free in ((1000.0, 0.0), (700.0, 20.0)):
        state = step("thr", 2.0, [[0, 1, 2]], [3000.0, requested, 10.0], [3720.0], capacity=[3720.0])
        state.pe_mips[:] = 3720.0
        decision.remove(state, 2, 0)
        assert state.free[0] == free
        assert state.sum_requested[0] == 3000.0 + requested
    # In the map's order: hashes put VM 1 (bucket 0) before VM 0 (bucket 5) in a 16-bucket map,
    # so 1000 is re-added first (2720 left) and then 3000 does not fit either: 0 again; at 700
    # first, 3000 then fits in 3020 and leaves 20, the same free MIPS in either order.
    state = step("thr", 2.0, [[0, 1, 2]], [3000.0, 700.0, 10.0], [3720.0], capacity=[3720.0])
    state.pe_mips[:] = 3720.0
    state.hashes[:] = [5, 16, 3]
    decision.remove(state, 2, 0)
    assert state.free[0] == 20.0
