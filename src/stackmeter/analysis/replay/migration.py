"""CloudSim 3.0's migrating policies: overload detection, VM selection, PABFD and underload consolidation.

The replay runs on CloudSim's event grid: a decision step every interval (300 k + 0.1 s) and,
between them, one event per distinct migration end (t_k + RAM ÷ (bandwidth ÷ 16), 62.5 MB/s on
1 Gbit/s), where every host is updated with the VMs' demand interpolated. At each event the
hosts × VMs state is one vectorised call to the over-subscription scheduler; energy, SLATAH and
PDM are integrated over the intervals between events from the state at their left end (energy
the trapezoid between both ends), as CloudSim's ``PowerDatacenter`` and ``Helper`` do.

A decision step (``PowerVmAllocationPolicyMigrationAbstract.optimizeAllocation``) is sequential
by nature: it runs compiled (``decision.py``) over per-host arrays: each host's VM list in
CloudSim's list order, the summed requested MIPS, the utilization history and the MIPS still
free, updated as VMs are taken off or tentatively placed. Everything CloudSim 3.0 does that an operator would not
expect is reproduced on purpose: PABFD costs a host by its load at the start of the step (VMs
placed earlier in the same step are ignored there), does not check a host empty at the start
of the step for overload, and charges nothing for waking it; underload consolidation has no
threshold and may evacuate a host that just received a VM from an overloaded one (the VM then
migrates twice); RAM stops limiting placement after creation.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numba
import numpy as np

from stackmeter.analysis.replay import decision
from stackmeter.analysis.replay.detectors import (
    NEEDS_HISTORY,
    REGRESSION_VALUES,
    prediction_weights,
    tricube_weights,
)
from stackmeter.analysis.replay.inputs import JOULES_PER_KWH, ReplayInputs
from stackmeter.analysis.replay.metrics import host_shutdowns
from stackmeter.analysis.replay.placement import place_power_aware_at_creation
from stackmeter.analysis.replay.power import host_load, power_w
from stackmeter.analysis.replay.scheduler import Allocation, allocate_mips, scheduler_key_hash
from stackmeter.analysis.replay.selection import Selector, selector
from stackmeter.errors import ConfigError
from stackmeter.models.replay import ReplayResult

HISTORY_LENGTH = 30
# CloudSim migrates over half the link: MB/s = bandwidth (its kbit/s, 1000 × Mbit/s) ÷ (2 × 8000).
_KBIT_PER_MBIT = 1000.0
_MIGRATION_LINK_DIVISOR = 2 * 8000.0
# Selections that read each VM's own utilization history.
VM_HISTORY_SELECTIONS = frozenset({"mc"})
# Random selection (RS) draws from this seed, so a replay repeats.
RANDOM_SELECTION_SEED = 0


class _Fixed(NamedTuple):
    """Per-host and per-VM constants of a run."""

    capacity: np.ndarray
    pe_mips: np.ndarray
    group: np.ndarray
    table_w: np.ndarray
    link_mb_s: np.ndarray
    vm_mips_pe: np.ndarray
    vm_pes: np.ndarray
    vm_ram: np.ndarray
    # The VMs' RAM each host accepts (RAM × allocation ratio) and its RAM.
    host_ram: np.ndarray
    host_physical_ram: np.ndarray
    # A memory-aware policy's demand per VM and limit per host (zeros and inf for the others).
    vm_memory: np.ndarray
    host_memory: np.ndarray


class _Move(NamedTuple):
    """A migration under way: the VM, its target, when it ends, its place in the target's list."""

    vm: int
    target: int
    ends_s: float
    key: int


class _Policy(NamedTuple):
    """The detector (as ``decision.Step.policy``), the selector and what they read."""

    detector: np.ndarray
    select: Selector | None
    # The selection's code in ``decision.SELECTION_CODES``, −1 when it runs in Python.
    selection: int
    needs_history: bool
    rng: np.random.Generator
    # Whether the selector reads each VM's own utilization history (MC).
    vm_history: bool
    # LR's prediction weights for each number of steps ahead a migration may take.
    lr_weights: np.ndarray


def migration_time_s(ram_mb: np.ndarray | float, link_mb_s: np.ndarray | float) -> np.ndarray | float:
    """Seconds CloudSim takes to migrate a VM of ``ram_mb`` over a host link (RAM ÷ link ÷ 2)."""
    return ram_mb / link_mb_s


def _decide(step: decision.Step, policy: _Policy, vm_history: np.ndarray | None) -> list[tuple[int, int]]:
    """One ``optimizeAllocation``: the migration map (VM, target) in CloudSim's order.

    The detector flags hosts at the start of the step; VMs leave each flagged host, chosen by
    the selection policy, until it is no longer overloaded; PABFD places them, highest demand
    first, on hosts not flagged; then underload consolidation
    (``getMigrationMapFromUnderUtilizedHosts``) tries to evacuate every host with 0 < U < 1 at
    the start of the step, least loaded first (lowest id on ties), all of its VMs or none,
    unless it is flagged, off, or received VMs from an evacuation in this step. There is no
    underload threshold, and hosts that received VMs from overloaded hosts are *not* protected
    (CloudSim 3.0 passes the new, empty map where it meant the earlier one), so a VM may
    migrate twice. stackmeter's own rules change two of these steps: the selection ``fit`` and
    the evacuation cap (``decision.py``).
    """
    flagged = decision.overloaded_hosts(step)
    if policy.selection >= 0:
        pool = decision.evacuate_overloaded(step, flagged, policy.selection)
    else:
        pool = np.array(_evacuate_in_python(step, flagged, policy, vm_history), dtype=np.int64)
    return [(vm, target) for vm, target in decision.place_and_consolidate(step, pool, flagged).tolist()]


def _evacuate_in_python(
    step: decision.Step, flagged: np.ndarray, policy: _Policy, vm_history: np.ndarray | None
) -> list[int]:
    """As ``decision.evacuate_overloaded``, for the selections that are not compiled (MC, RS)."""
    pool: list[int] = []
    # MU compares utilization as CloudSim computes it: requested MIPS ÷ the VM's MIPS.
    measured = step.utilization * step.vm_mips_pe / step.vm_mips_pe
    for host in np.flatnonzero(flagged).tolist():
        while step.list_len[host]:
            candidates = step.lists[host, : step.list_len[host]].tolist()
            assert policy.select is not None, "the compiled selections have no Python one"
            vm = policy.select(candidates, step.vm_ram, measured, policy.rng, history=vm_history)
            pool.append(vm)
            decision.remove(step, vm, host)
            if not decision.overloaded(step, host, -1):
                break
    return pool


# -- the event loop -------------------------------------------------------------------------


class _Run:
    """The replay's moving state between events and the integrals accumulated so far."""

    def __init__(self, inputs: ReplayInputs, fixed: _Fixed) -> None:
        vms = inputs.utilization.shape[0]
        self.inputs = inputs
        self.fixed = fixed
        self.host_of = place_power_aware_at_creation(inputs.hosts, inputs.vms, inputs.memory_limit)
        self.alive = np.ones(vms, dtype=bool)
        self.order_key = np.arange(vms, dtype=np.int64)
        self.next_key = vms
        self.outgoing = np.zeros(vms, dtype=bool)
        hosts = len(fixed.capacity)
        # The most VMs each host's scheduler map ever held, and the bucket of each VM's key.
        self.map_entries = np.bincount(self.host_of, minlength=hosts).astype(np.int64)
        self.vm_hash = np.array([scheduler_key_hash(vm) for vm in range(vms)], dtype=np.int64)
        self.entry_vm = np.zeros(0, dtype=np.intp)
        self.entry_slot = np.zeros(0, dtype=np.intp)
        self.entry_incoming = np.zeros(0, dtype=bool)
        self.in_flight: list[_Move] = []
        self.migrations = 0
        hosts = len(fixed.capacity)
        self.time_s: float | None = None
        self.load = np.zeros(hosts)
        self.watts = np.zeros(hosts)
        self.short = np.zeros(hosts, dtype=bool)
        self.vm_requested = np.zeros(0)
        self.vm_allocated = np.zeros(0)
        self.vm_migrating = np.zeros(0, dtype=bool)
        self.energy_j = 0.0
        self.active_s = 0.0
        self.short_s = 0.0
        self.requested_mips_s = 0.0
        self.lost_mips_s = 0.0
        self.event_times: list[float] = []
        self.event_active: list[np.ndarray] = []
        # With memory replayed: hosts whose VMs use more memory than they have, and for how long.
        self.out_of_memory = np.zeros(hosts, dtype=bool)
        self.out_of_memory_s = 0.0
        # Hosts holding a VM at creation are on; switching one on later may cost (wake_costs_energy).
        self.active = np.bincount(self.host_of, minlength=hosts) > 0
        self.wakes = 0

    def allocate(self, utilization: np.ndarray) -> Allocation:
        """The scheduler's shares for the VMs alive now, moving ones counted on both hosts.

        Entries are ordered as the hosts' VM lists (a VM moving in sits where it was appended),
        so that each host's sums add up in CloudSim's order; ``entry_vm`` and ``entry_incoming``
        keep the VM of each entry and whether it is the copy moving in.
        """
        fixed = self.fixed
        moves = self.in_flight
        vm, slot, incoming, outgoing = _entries(
            self.alive,
            self.host_of,
            self.order_key,
            self.outgoing,
            np.array([move.vm for move in moves], dtype=np.int64),
            np.array([move.target for move in moves], dtype=np.int64),
            np.array([move.key for move in moves], dtype=np.int64),
        )
        counts = np.bincount(slot, minlength=len(fixed.capacity))
        np.maximum(self.map_entries, counts, out=self.map_entries)
        allocation = allocate_mips(
            slot,
            utilization[vm] * fixed.vm_mips_pe[vm],
            fixed.vm_pes[vm],
            fixed.pe_mips,
            fixed.capacity,
            incoming,
            outgoing,
        )
        self.entry_vm = vm
        self.entry_slot = slot
        self.entry_incoming = incoming
        return allocation

    def integrate_to(self, time_s: float, allocation: Allocation) -> None:
        """Close the interval from the previous event to ``time_s`` with the state held since then."""
        load = host_load(allocation.slot_allocated_mips, self.fixed.capacity)
        watts = power_w(self.fixed.table_w, self.fixed.group, load)
        if self.time_s is not None:
            dt = time_s - self.time_s
            on = self.active
            self.energy_j += float(((self.watts + (watts - self.watts) / 2) * dt)[on].sum())
            self.active_s += float(self.active.sum()) * dt
            self.short_s += float((self.active & self.short).sum()) * dt
            self.out_of_memory_s += float((self.active & self.out_of_memory).sum()) * dt
            self.requested_mips_s += float(self.vm_requested.sum()) * dt
            lost = self.vm_migrating & (self.vm_allocated < self.vm_requested)
            self.lost_mips_s += float((self.vm_requested - self.vm_allocated)[lost].sum()) * dt
        self.time_s = time_s

    def hold(self, allocation: Allocation, utilization: np.ndarray) -> None:
        """Record the state after an event: it holds until the next one."""
        fixed = self.fixed
        allocated = allocation.slot_allocated_mips
        self.load = host_load(allocated, fixed.capacity)
        self.watts = power_w(fixed.table_w, fixed.group, self.load)
        was_on = self.active
        self.active = allocated > 0
        profile = self.inputs.profile
        if profile.host_on_while_holding_vms:
            self.active |= np.bincount(self.entry_slot, minlength=len(fixed.capacity)) > 0
        if profile.wake_costs_energy:
            woke = self.active & ~was_on
            self.wakes += int(woke.sum())
            self.energy_j += float(self.inputs.hosts.wake_j[woke].sum())
        self.short = allocated < allocation.slot_requested_mips
        own = ~self.entry_incoming
        vms = self.entry_vm[own]
        self.vm_requested = utilization[vms] * fixed.vm_mips_pe[vms] * fixed.vm_pes[vms]
        self.vm_allocated = allocation.vm_allocated_mips[own]
        self.vm_migrating = self.outgoing[vms]
        if self.inputs.memory_mb is not None:
            self.out_of_memory = self.memory_used_mb() > fixed.host_physical_ram
        self.event_times.append(float(self.time_s if self.time_s is not None else 0.0))
        self.event_active.append(self.active.copy())

    def memory_used_mb(self) -> np.ndarray:
        """The memory each host's VMs use now (the sample the time falls in), a VM moving in on both hosts."""
        memory = self.inputs.memory_mb
        assert memory is not None and self.time_s is not None
        sample = min(int(self.time_s // self.inputs.interval_s), memory.shape[1] - 1)
        hosts = len(self.fixed.capacity)
        used = np.bincount(self.entry_slot, weights=memory[self.entry_vm, sample], minlength=hosts)
        return used

    def remove_vanished(self, utilization: np.ndarray) -> np.ndarray:
        """VMs not migrating that request 0 MIPS leave for good (``getCompletedVms``); returns their hosts' mask."""
        lost = np.zeros(len(self.fixed.capacity), dtype=bool)
        if self.inputs.profile.vanish_at_zero:
            gone = self.alive & (utilization == 0) & ~self.outgoing
            lost[self.host_of[gone]] = True
            self.alive &= ~gone
        return lost

    def complete(self, time_s: float, utilization: np.ndarray) -> None:
        """A migration end: update every host, move the VMs that arrive, update again."""
        self.integrate_to(time_s, self.allocate(utilization))
        arriving = [move for move in self.in_flight if move.ends_s == time_s]
        self.in_flight = [move for move in self.in_flight if move.ends_s != time_s]
        for move in arriving:
            self.host_of[move.vm] = move.target
            self.order_key[move.vm] = self.take_key()
        moving = np.zeros(len(self.alive), dtype=bool)
        for move in self.in_flight:
            moving[move.vm] = True
        self.outgoing = moving
        self.hold(self.allocate(utilization), utilization)
        self.remove_vanished(utilization)

    def take_key(self) -> int:
        """The next place at the end of a host's VM list."""
        self.next_key += 1
        return self.next_key

    def start(self, migrations: list[tuple[int, int]], time_s: float) -> None:
        """Start the migrations of a decision step (``addMigratingInVm``), in the map's order."""
        fixed = self.fixed
        for vm, target in migrations:
            ends = time_s + float(migration_time_s(fixed.vm_ram[vm], fixed.link_mb_s[target]))
            self.in_flight.append(_Move(vm, target, ends, self.take_key()))
            self.outgoing[vm] = True
            self.migrations += 1

    def lists(self) -> tuple[np.ndarray, np.ndarray]:
        """Each host's VMs in CloudSim's list order (creation or arrival), as ``decision.Step`` holds them.

        Returns ``hosts × VMs`` ids (row h's first ``counts[h]`` are host h's list; room for every
        VM, since a step may move any number onto one host) and the counts.
        """
        present = np.flatnonzero(self.alive)
        ordered = present[np.lexsort((self.order_key[present], self.host_of[present]))]
        hosts = len(self.fixed.capacity)
        counts = np.bincount(self.host_of[ordered], minlength=hosts).astype(np.int64)
        starts = np.cumsum(counts) - counts
        lists = np.empty((hosts, len(self.alive)), dtype=np.int64)
        host = self.host_of[ordered]
        lists[host, np.arange(len(ordered)) - starts[host]] = ordered
        return lists, counts


@numba.njit(cache=True)
def _entries(
    alive: np.ndarray,
    host_of: np.ndarray,
    order_key: np.ndarray,
    moving_out: np.ndarray,
    move_vm: np.ndarray,
    move_target: np.ndarray,
    move_key: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The scheduler's entries in the hosts' list order: (VM, host, moving in, moving out) of each.

    Every VM alive on its host, and a copy of each VM moving in on its target, placed by its
    key (a VM's place in its host's list; a VM moving in was appended when it started).
    """
    present = np.flatnonzero(alive)
    entries = len(present) + len(move_vm)
    vm = np.empty(entries, dtype=np.int64)
    slot = np.empty(entries, dtype=np.int64)
    key = np.empty(entries, dtype=np.int64)
    incoming = np.zeros(entries, dtype=np.bool_)
    vm[: len(present)] = present
    slot[: len(present)] = host_of[present]
    key[: len(present)] = order_key[present]
    vm[len(present) :] = move_vm
    slot[len(present) :] = move_target
    key[len(present) :] = move_key
    incoming[len(present) :] = True
    if entries == 0:
        return vm, slot, incoming, incoming.copy()
    # Keys are unique, so (host, key) orders the entries as the lexicographic sort does.
    order = np.argsort(slot * (key.max() + 1) + key)
    outgoing = np.empty(entries, dtype=np.bool_)
    for i in range(entries):
        outgoing[i] = moving_out[vm[order[i]]] and not incoming[order[i]]
    return vm[order], slot[order], incoming[order], outgoing


def _fixed(inputs: ReplayInputs) -> _Fixed:
    """The constants of a run from its hosts and VMs."""
    hosts, vms, limit = inputs.hosts, inputs.vms, inputs.memory_limit
    return _Fixed(
        capacity=np.ascontiguousarray(hosts.capacity_mips, dtype=np.float64),
        pe_mips=np.ascontiguousarray(hosts.pe_mips, dtype=np.float64),
        group=np.ascontiguousarray(hosts.group, dtype=np.int64),
        table_w=np.ascontiguousarray(hosts.power_table_w, dtype=np.float64),
        link_mb_s=np.ascontiguousarray(
            hosts.bandwidth_mbit_s * _KBIT_PER_MBIT / _MIGRATION_LINK_DIVISOR, dtype=np.float64
        ),
        vm_mips_pe=np.ascontiguousarray(vms.mips_per_pe, dtype=np.float64),
        vm_pes=np.ascontiguousarray(vms.pes, dtype=np.float64),
        vm_ram=np.ascontiguousarray(vms.ram_mb, dtype=np.float64),
        host_ram=np.ascontiguousarray(hosts.ram_limit_mb, dtype=np.float64),
        host_physical_ram=np.ascontiguousarray(hosts.ram_mb, dtype=np.float64),
        vm_memory=np.zeros(len(vms.pes)) if limit is None else limit.vm_mb,
        host_memory=np.full(len(hosts.group), np.inf) if limit is None else limit.host_mb,
    )


def _policy(inputs: ReplayInputs) -> _Policy:
    """The detector, selector and parameter the policy names."""
    chosen = inputs.policy
    if chosen.selection is None or chosen.parameter is None:
        raise ConfigError(
            f"{chosen.allocation} needs a VM selection and a parameter, e.g. {chosen.allocation}-mmt-1.2",
            where="policy",
        )
    if chosen.allocation not in decision.DETECTOR_CODES:
        raise ConfigError(
            f"unknown overload detector {chosen.allocation!r}: use {', '.join(sorted(decision.DETECTOR_CODES))}",
            where="policy",
        )
    needs_history = chosen.allocation in NEEDS_HISTORY
    code = decision.DETECTOR_CODES[chosen.allocation]
    slowest_s = float(inputs.vms.ram_mb.max(initial=0.0)) / float(
        _fixed(inputs).link_mb_s.min(initial=np.inf)
    )
    most_ahead = int(math.ceil(slowest_s / inputs.interval_s)) if math.isfinite(slowest_s) else 0
    return _Policy(
        detector=np.array(
            [
                code,
                float(chosen.parameter),
                inputs.interval_s,
                float(needs_history),
                np.inf if chosen.evacuation_cap is None else float(chosen.evacuation_cap),
                float(inputs.profile.memory_limits_placement),
                float(chosen.memory_aware),
            ]
        ),
        select=None if chosen.selection in decision.SELECTION_CODES else selector(chosen.selection),
        selection=decision.SELECTION_CODES.get(chosen.selection, -1),
        needs_history=needs_history,
        rng=np.random.default_rng(RANDOM_SELECTION_SEED),
        vm_history=chosen.selection in VM_HISTORY_SELECTIONS,
        lr_weights=np.array([prediction_weights(float(a)) for a in range(most_ahead + 1)]).reshape(
            most_ahead + 1, REGRESSION_VALUES
        ),
    )


def _step(
    run: _Run, policy: _Policy, step_u: np.ndarray, step: int, load_mips: np.ndarray, vanished: np.ndarray
) -> decision.Step:
    """The arrays of one decision step, its sums started; ``vanished``: hosts a VM left at this update."""
    fixed = run.fixed
    utilization = np.ascontiguousarray(step_u[:, step])
    requested = utilization * fixed.vm_mips_pe * fixed.vm_pes
    if policy.needs_history:
        history_mips = np.ascontiguousarray(
            _history_window(step_u, step, fixed, run.inputs.profile.history_counts_all_cores)
        )
    else:
        history_mips = np.zeros((len(requested), 1))
    lists, counts = run.lists()
    host_utilization = host_load(load_mips, fixed.capacity)
    return decision.begin(
        vanished,
        capacity=fixed.capacity,
        pe_mips=fixed.pe_mips,
        group=fixed.group,
        table_w=fixed.table_w,
        link_mb_s=fixed.link_mb_s,
        vm_pes=fixed.vm_pes,
        vm_ram=fixed.vm_ram,
        vm_mips_pe=fixed.vm_mips_pe,
        hashes=run.vm_hash,
        policy=policy.detector,
        lr_weights=policy.lr_weights,
        sigma=np.ascontiguousarray(tricube_weights()),
        utilization=utilization,
        requested=requested,
        per_pe=requested / fixed.vm_pes,
        history_mips=history_mips,
        load_mips=load_mips,
        host_utilization=host_utilization,
        power_now=power_w(fixed.table_w, fixed.group, host_utilization),
        lists=lists,
        list_len=counts,
        map_entries=run.map_entries,
        host_ram=fixed.host_ram,
        vm_memory=fixed.vm_memory,
        host_memory=fixed.host_memory,
    )


def _interpolated(utilization: np.ndarray, time_s: float, interval_s: float) -> np.ndarray:
    """Each VM's utilization at ``time_s`` on the line between samples (the last sample held)."""
    sample = int(math.floor(time_s / interval_s))
    low = utilization[:, min(sample, utilization.shape[1] - 1)]
    high = utilization[:, min(sample + 1, utilization.shape[1] - 1)]
    return low + (high - low) / interval_s * (time_s - sample * interval_s)


def _history_window(step_utilization: np.ndarray, step: int, fixed: _Fixed, all_cores: bool) -> np.ndarray:
    """Each VM's last ≤ 30 step utilizations, newest first, × its MIPS.

    CloudSim's host history (``PowerHostUtilizationHistory``) multiplies by ``Vm.getMips()``, the
    MIPS of *one* core, so a VM of 8 cores counts for one; with ``all_cores`` it counts for all.
    """
    mips = fixed.vm_mips_pe * fixed.vm_pes if all_cores else fixed.vm_mips_pe
    return _vm_history(step_utilization, step) * mips[:, None]


def _vm_history(step_utilization: np.ndarray, step: int) -> np.ndarray:
    """Each VM's last ≤ 30 step utilizations, newest first (``PowerVm.getUtilizationHistory``)."""
    first = max(0, step - HISTORY_LENGTH + 1)
    return step_utilization[:, first : step + 1][:, ::-1]


def replay_migrating(inputs: ReplayInputs) -> ReplayResult:
    """Replay a THR/IQR/MAD/LR/LRR × MMT/MU/RS/MC policy on CloudSim 3.0's event grid."""
    fixed = _fixed(inputs)
    policy = _policy(inputs)
    run = _Run(inputs, fixed)
    step_u = inputs.step_utilization
    end_s = inputs.utilization.shape[1] * inputs.interval_s
    steps_done = 0
    step_energy: list[float] = []
    step_active: list[int] = []
    step_short: list[int] = []
    step_alive: list[int] = []
    step_memory: list[int] = []
    for step, time_s in enumerate(inputs.step_time_s.tolist()):
        energy_before = run.energy_j
        _complete_until(run, time_s, inputs)
        utilization = step_u[:, step]
        allocation = run.allocate(utilization)
        run.integrate_to(time_s, allocation)
        lost = run.remove_vanished(utilization)
        state = _step(run, policy, step_u, step, allocation.slot_allocated_mips, lost)
        vm_history = _vm_history(step_u, step) if policy.vm_history else None
        run.start(_decide(state, policy, vm_history), time_s)
        run.hold(run.allocate(utilization), utilization)
        steps_done += 1
        step_energy.append(run.energy_j - energy_before)
        step_active.append(int(run.active.sum()))
        step_short.append(int((run.active & run.short).sum()))
        step_alive.append(int(run.alive.sum()))
        step_memory.append(int((run.active & run.out_of_memory).sum()))
        if not run.alive.any():
            break
    energy_before = run.energy_j
    _complete_until(run, end_s, inputs, inclusive=True)
    step_energy[-1] += run.energy_j - energy_before
    return _result(inputs, run, steps_done, step_energy, step_active, step_short, step_alive, step_memory)


def _complete_until(run: _Run, time_s: float, inputs: ReplayInputs, inclusive: bool = False) -> None:
    """Process every migration end before ``time_s`` (or at it, when ``inclusive``), in time order."""
    while run.in_flight:
        ends = min(move.ends_s for move in run.in_flight)
        if ends > time_s or (ends == time_s and not inclusive):
            return
        run.complete(ends, _interpolated(inputs.utilization, ends, inputs.interval_s))


def _result(
    inputs: ReplayInputs,
    run: _Run,
    steps: int,
    step_energy_j: list[float],
    step_active: list[int],
    step_short: list[int],
    step_alive: list[int],
    step_memory: list[int],
) -> ReplayResult:
    """Totals and per-step arrays of a migrating replay."""
    times = np.array(run.event_times)
    active = np.stack(run.event_active, axis=1)
    shutdowns, on_before_s = host_shutdowns(active, times)
    sla_time = run.short_s / run.active_s if run.active_s > 0 else float("nan")
    degradation = run.lost_mips_s / run.requested_mips_s if run.requested_mips_s > 0 else float("nan")
    energy_kwh = run.energy_j / JOULES_PER_KWH
    slav = sla_time * degradation
    memory = None if inputs.memory_mb is None or run.active_s == 0 else inputs.memory_mb
    return ReplayResult(
        policy=inputs.policy.label,
        semantics=inputs.profile.name,
        hosts=len(inputs.hosts.group),
        vms=inputs.utilization.shape[0],
        step_time_s=inputs.step_time_s[:steps],
        step_hosts_active=np.array(step_active),
        step_hosts_overloaded=np.array(step_short),
        step_energy_kwh=np.array(step_energy_j) / JOULES_PER_KWH,
        step_vms_alive=np.array(step_alive),
        energy_kwh=energy_kwh,
        migrations=run.migrations,
        slatah=sla_time,
        pdm=degradation,
        slav=slav,
        esv=energy_kwh * slav,
        host_shutdowns=shutdowns,
        mean_time_before_host_shutdown_s=on_before_s,
        vms_removed=int((~run.alive).sum()),
        memory_overload=float("nan") if memory is None else run.out_of_memory_s / run.active_s,
        step_hosts_memory_overloaded=None if memory is None else np.array(step_memory),
        host_wakes=run.wakes,
    )
