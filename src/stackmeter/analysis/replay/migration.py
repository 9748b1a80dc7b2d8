"""CloudSim 3.0's migrating policies: overload detection, VM selection, PABFD and underload consolidation.

The replay runs on CloudSim's event grid: a decision step every interval (300 k + 0.1 s) and,
between them, one event per distinct migration end (t_k + RAM ÷ (bandwidth ÷ 16), 62.5 MB/s on
1 Gbit/s), where every host is updated with the VMs' demand interpolated. At each event the
hosts × VMs state is one vectorised call to the over-subscription scheduler; energy, SLATAH and
PDM are integrated over the intervals between events from the state at their left end (energy
the trapezoid between both ends), as CloudSim's ``PowerDatacenter`` and ``Helper`` do.

A decision step (``PowerVmAllocationPolicyMigrationAbstract.optimizeAllocation``) is sequential
by nature and kept in :class:`_Decision`, per host: its VM list in CloudSim's list order, the
summed requested MIPS, the utilization history and the MIPS still free, updated as VMs are
taken off or tentatively placed. Everything CloudSim 3.0 does that an operator would not
expect is reproduced on purpose: PABFD costs a host by its load at the start of the step (VMs
placed earlier in the same step are ignored there), does not check a host empty at the start
of the step for overload, and charges nothing for waking it; underload consolidation has no
threshold and may evacuate a host that just received a VM from an overloaded one (the VM then
migrates twice); RAM stops limiting placement after creation.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from stackmeter.analysis.replay.detectors import NEEDS_HISTORY, Detector, HostView, detector
from stackmeter.analysis.replay.inputs import JOULES_PER_KWH, ReplayInputs
from stackmeter.analysis.replay.metrics import host_shutdowns
from stackmeter.analysis.replay.placement import place_power_aware_at_creation
from stackmeter.analysis.replay.power import host_load, power_w
from stackmeter.analysis.replay.scheduler import (
    Allocation,
    allocate_mips,
    free_after_readding,
    map_buckets,
    scheduler_key_hash,
)
from stackmeter.analysis.replay.selection import Selector, selector
from stackmeter.errors import ConfigError
from stackmeter.models.replay import ReplayResult

HISTORY_LENGTH = 30
# CloudSim migrates over half the link: MB/s = bandwidth (its kbit/s, 1000 × Mbit/s) ÷ (2 × 8000).
_KBIT_PER_MBIT = 1000.0
_MIGRATION_LINK_DIVISOR = 2 * 8000.0
# Candidate hosts whose overload check runs in one batch, cheapest first.
_CHECK_BATCH = 16
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


class _Move(NamedTuple):
    """A migration under way: the VM, its target, when it ends, its place in the target's list."""

    vm: int
    target: int
    ends_s: float
    key: int


class _Policy(NamedTuple):
    """The detector, its parameter, the selector and how far back the history goes."""

    detect: Detector
    parameter: float
    select: Selector
    needs_history: bool
    interval_s: float
    rng: np.random.Generator
    # Whether the selector reads each VM's own utilization history (MC).
    vm_history: bool = False


def migration_time_s(ram_mb: np.ndarray | float, link_mb_s: np.ndarray | float) -> np.ndarray | float:
    """Seconds CloudSim takes to migrate a VM of ``ram_mb`` over a host link (RAM ÷ link ÷ 2)."""
    return ram_mb / link_mb_s


class _SchedulerMaps(NamedTuple):
    """What decides the order in which each host's scheduler re-shares it (see scheduler.py).

    ``entries``: the most VMs each host's map ever held (mutated as the run goes);
    ``vm_hash``: each VM's key hash; ``vanished``: hosts that lost a VM at this step's update.
    """

    entries: np.ndarray
    vm_hash: np.ndarray
    vanished: np.ndarray


class _Decision:
    """The tentative state of one decision step: per-host VM lists and what detectors see of them.

    Lists hold VM ids in CloudSim's list order; a VM may sit in two lists at once (its source
    and a tentative target), as it does in CloudSim until ``restoreAllocation``.
    """

    def __init__(
        self,
        fixed: _Fixed,
        policy: _Policy,
        lists: list[list[int]],
        requested: np.ndarray,
        history_mips: np.ndarray,
        load_mips: np.ndarray,
        scheduler: _SchedulerMaps,
        vm_history: np.ndarray | None = None,
    ) -> None:
        self.fixed = fixed
        self.vm_history = vm_history
        self.policy = policy
        self.lists = lists
        self.requested = requested
        self.history_mips = history_mips
        self.load_mips = load_mips
        self.utilization = host_load(load_mips, fixed.capacity)
        self.power_now = power_w(fixed.table_w, fixed.group, self.utilization)
        self.maps = scheduler
        # Python lists for the scalar bookkeeping of the loops below (numpy scalars are slow there).
        self.per_pe = (requested / fixed.vm_pes).tolist()
        self.vm_pes = fixed.vm_pes.tolist()
        self.host_pe = fixed.pe_mips.tolist()
        self.hashes = scheduler.vm_hash.tolist()
        self.list_len = np.array([len(vms) for vms in lists], dtype=np.int64)
        self._start_sums(lists, history_mips.shape[1])
        # Free MIPS as the scheduler would re-share each host now (HashMap order), cached.
        self.free_rehashed = np.zeros(len(lists))
        self.stale = np.ones(len(lists), dtype=bool)
        for host in np.flatnonzero(scheduler.vanished):
            self.free[host] = self._free_rehashed(int(host))

    def _start_sums(self, lists: list[list[int]], n: int) -> None:
        """Each host's sums at the start of the step, added up in list order as CloudSim does."""
        fixed = self.fixed
        hosts = len(lists)
        vm = np.array([v for host_vms in lists for v in host_vms], dtype=np.intp)
        host = np.repeat(np.arange(hosts), [len(host_vms) for host_vms in lists])
        # ufunc.at applies its operands one by one in the order given: the list order.
        self.sum_requested = np.zeros(hosts)
        np.add.at(self.sum_requested, host, self.requested[vm])
        capped = np.minimum(self.requested[vm] / fixed.vm_pes[vm], fixed.pe_mips[host]) * fixed.vm_pes[vm]
        self.free = fixed.capacity.copy()
        np.subtract.at(self.free, host, capped)
        self.free[np.bincount(host, weights=capped, minlength=hosts) > fixed.capacity] = 0.0
        self.max_ram = np.zeros(hosts)
        np.maximum.at(self.max_ram, host, fixed.vm_ram[vm])
        self.history = np.zeros((hosts, n))
        if self.policy.needs_history:
            rows = self.history_mips[vm] / fixed.capacity[host][:, None]
            # Rank of each VM in its host's list: adding rank by rank keeps each host's list order
            # with one vectorised add per rank (no host appears twice in one).
            starts = np.cumsum([0] + [len(host_vms) for host_vms in lists])[:-1]
            rank = np.arange(len(vm)) - starts[host]
            for position in range(int(rank.max(initial=-1)) + 1):
                at = rank == position
                self.history[host[at]] += rows[at]

    # -- per-host bookkeeping ------------------------------------------------------------------

    def _capped(self, vm: int, host: int) -> float:
        """The MIPS a VM takes from a host's scheduler: its per-core request capped at the host's cores."""
        return min(self.per_pe[vm], self.host_pe[host]) * self.vm_pes[vm]

    def _refresh(self, host: int) -> None:
        """Recompute a host's sums from its list once a VM left it, in CloudSim's orders.

        Loads and histories add up in list order; the free MIPS follow the scheduler's
        re-sharing in HashMap order (:func:`free_after_readding`).
        """
        vms = self.lists[host]
        capacity = float(self.fixed.capacity[host])
        total = 0.0
        ram = 0.0
        for vm in vms:
            total += float(self.requested[vm])
            ram = max(ram, float(self.fixed.vm_ram[vm]))
        self.sum_requested[host] = total
        self.max_ram[host] = ram
        self.list_len[host] = len(vms)
        self.stale[host] = True
        self.free[host] = self._free_rehashed(host)
        if self.policy.needs_history:
            row = np.zeros(self.history.shape[1])
            for vm in vms:
                row += self.history_mips[vm] / capacity
            self.history[host] = row

    def _free_rehashed(self, host: int) -> float:
        """The host's free MIPS after CloudSim's scheduler re-adds its VMs in HashMap order (cached)."""
        if self.stale[host]:
            mask = map_buckets(int(self.maps.entries[host])) - 1
            hashes = self.hashes
            in_order = sorted(self.lists[host], key=lambda vm: hashes[vm] & mask)
            requests = [self._capped(vm, host) for vm in in_order]
            self.free_rehashed[host] = free_after_readding(float(self.fixed.capacity[host]), requests)
            self.stale[host] = False
        return float(self.free_rehashed[host])

    def _grow_maps(self, hosts: np.ndarray, entries: np.ndarray) -> None:
        """Record that the scheduler maps of ``hosts`` held ``entries`` VMs (a bigger map iterates anew)."""
        before = self.maps.entries[hosts]
        grown = entries > before
        if grown.any():
            bigger = hosts[grown]
            old_buckets = [map_buckets(int(n)) for n in before[grown]]
            self.maps.entries[bigger] = entries[grown]
            for host, buckets in zip(bigger.tolist(), old_buckets, strict=True):
                if map_buckets(int(self.maps.entries[host])) != buckets:
                    self.stale[host] = True

    def add(self, vm: int, host: int) -> None:
        """Place a VM on a host tentatively (CloudSim's ``vmCreate``)."""
        self.lists[host].append(vm)
        self.list_len[host] += 1
        self.stale[host] = True
        self._grow_maps(np.array([host]), self.list_len[[host]])
        self.sum_requested[host] += self.requested[vm]
        capped = self._capped(vm, host)
        self.free[host] = self.free[host] - capped if self.free[host] >= capped else 0.0
        self.max_ram[host] = max(self.max_ram[host], self.fixed.vm_ram[vm])
        if self.policy.needs_history:
            self.history[host] += self.history_mips[vm] / self.fixed.capacity[host]

    def remove(self, vm: int, host: int) -> None:
        """Take a VM off a host's list (CloudSim's ``vmDestroy``)."""
        self.lists[host].remove(vm)
        self._refresh(host)

    # -- detectors -----------------------------------------------------------------------------

    def _view(self, hosts: np.ndarray, vm: int | None) -> HostView:
        """What the detector sees of ``hosts``, with ``vm`` added to each of them when given."""
        capacity = self.fixed.capacity[hosts]
        load = self.sum_requested[hosts]
        if not self.policy.needs_history:
            # THR reads the load alone.
            added = load if vm is None else load + self.requested[vm]
            return HostView(added / capacity, self.history[:0], self.list_len[:0], capacity[:0])
        ram = self.max_ram[hosts]
        history = self.history[hosts]
        if vm is not None:
            load = load + self.requested[vm]
            ram = np.maximum(ram, self.fixed.vm_ram[vm])
            if self.policy.needs_history:
                history = history + self.history_mips[vm] / capacity[:, None]
        lengths = _trimmed_lengths(history)
        seconds = migration_time_s(ram, self.fixed.link_mb_s[hosts])
        return HostView(
            load=load / capacity,
            history=history,
            lengths=lengths,
            migration_intervals=np.ceil(np.asarray(seconds) / self.policy.interval_s),
        )

    def overloaded(self, hosts: np.ndarray, vm: int | None = None) -> np.ndarray:
        """The detector's verdict on ``hosts`` as they are (or with ``vm`` added)."""
        return self.policy.detect(self._view(hosts, vm), self.policy.parameter)

    # -- PABFD ---------------------------------------------------------------------------------

    def _tried_on(self, hosts: np.ndarray) -> None:
        """CloudSim's overload check places the VM on every such host and takes it off again.

        That leaves each host's free MIPS as its scheduler re-shares them (HashMap order) and
        its map one entry bigger for a moment; the replay applies both.
        """
        if hosts.size == 0:
            return
        self._grow_maps(hosts, self.list_len[hosts] + 1)
        for host in hosts[self.stale[hosts]].tolist():
            self._free_rehashed(host)
        self.free[hosts] = self.free_rehashed[hosts]

    def find_host(self, vm: int, excluded: np.ndarray) -> int:
        """PABFD (``findHostForVm``): the host where the VM adds the least power, or −1.

        A host qualifies when not excluded, its cores are at least as fast as the VM's per-core
        request and its free MIPS cover the VM's request; one loaded at the start of the step
        must not be overloaded with the VM added (the same detector). The cost is
        P((L + r)/C) − P(L/C) with L the host's load at the start of the step; ties go to the
        lowest id. The check has no side effects, so it runs only on the cheapest candidates.
        """
        fixed = self.fixed
        requested = float(self.requested[vm])
        per_pe = requested / fixed.vm_pes[vm]
        candidates = np.flatnonzero(~excluded & (fixed.pe_mips >= per_pe) & (self.free >= requested))
        if candidates.size == 0:
            return -1
        self._tried_on(candidates[self.load_mips[candidates] != 0])
        after = (self.load_mips[candidates] + requested) / fixed.capacity[candidates]
        cost = power_w(fixed.table_w, fixed.group[candidates], after) - self.power_now[candidates]
        ordered = candidates[np.lexsort((candidates, cost))]
        unchecked = np.flatnonzero(self.load_mips[ordered] == 0)
        stop = int(unchecked[0]) if unchecked.size else len(ordered)
        for start in range(0, stop, _CHECK_BATCH):
            batch = ordered[start : min(stop, start + _CHECK_BATCH)]
            fine = np.flatnonzero(~self.overloaded(batch, vm))
            if fine.size:
                return int(batch[fine[0]])
        return int(ordered[stop]) if stop < len(ordered) else -1


def _trimmed_lengths(history: np.ndarray) -> np.ndarray:
    """Values left in each history row once trailing zeros are trimmed (``MathUtil.trimZeroTail``)."""
    n = history.shape[1]
    if n == 0 or history[:, -1].all():
        return np.full(len(history), n)
    nonzero = history != 0
    return np.where(nonzero.any(axis=1), n - np.argmax(nonzero[:, ::-1], axis=1), 0)


def _decide(state: _Decision, utilization: np.ndarray) -> list[tuple[int, int]]:
    """One ``optimizeAllocation``: the migration map (VM, target) in CloudSim's order."""
    fixed, policy = state.fixed, state.policy
    hosts = len(state.lists)
    everyone = np.arange(hosts)
    flagged = state.overloaded(everyone)
    flagged_ids = np.flatnonzero(flagged)
    pool: list[int] = []
    # MU compares utilization as CloudSim computes it: requested MIPS ÷ the VM's MIPS.
    measured = utilization * fixed.vm_mips_pe / fixed.vm_mips_pe
    for host in flagged_ids.tolist():
        while state.lists[host]:
            vm = policy.select(
                state.lists[host], fixed.vm_ram, measured, policy.rng, history=state.vm_history
            )
            pool.append(vm)
            state.remove(vm, host)
            if not state.overloaded(np.array([host]))[0]:
                break
    migrations: list[tuple[int, int]] = []
    for vm in _by_demand(pool, utilization, fixed):
        target = state.find_host(vm, flagged)
        if target >= 0:
            state.add(vm, target)
            migrations.append((vm, target))
    migrations += _consolidate_underloaded(state, flagged, utilization)
    return migrations


def _by_demand(vms: list[int], utilization: np.ndarray, fixed: _Fixed) -> list[int]:
    """VMs by requested MIPS per core, highest first, stable (``PowerVmList.sortByCpuUtilization``)."""
    return sorted(vms, key=lambda vm: -(utilization[vm] * fixed.vm_mips_pe[vm]))


def _consolidate_underloaded(
    state: _Decision, flagged: np.ndarray, utilization: np.ndarray
) -> list[tuple[int, int]]:
    """``getMigrationMapFromUnderUtilizedHosts``: evacuate the least-loaded hosts, all or nothing.

    No threshold: every host with 0 < U < 1 at the start of the step is tried, least loaded
    first (lowest id on ties), unless it is overloaded, off, or already received VMs from an
    evacuation in this step. Hosts that received VMs from overloaded hosts are *not* protected
    (CloudSim 3.0 passes the new, empty map where it meant the earlier one).
    """
    switched_off = state.utilization == 0
    not_source = flagged | switched_off
    not_target = flagged | switched_off
    order = np.lexsort((np.arange(len(state.lists)), state.utilization))
    migrations: list[tuple[int, int]] = []
    for host in order.tolist():
        if not_source[host] or not 0 < state.utilization[host] < 1 or not state.lists[host]:
            continue
        not_source[host] = True
        not_target[host] = True
        placed: list[tuple[int, int]] = []
        for vm in _by_demand(list(state.lists[host]), utilization, state.fixed):
            target = state.find_host(vm, not_target)
            if target < 0:
                for undo_vm, undo_host in placed:
                    state.remove(undo_vm, undo_host)
                placed = []
                break
            state.add(vm, target)
            placed.append((vm, target))
        for _, target in placed:
            not_source[target] = True
        migrations += placed
    return migrations


# -- the event loop -------------------------------------------------------------------------


class _Run:
    """The replay's moving state between events and the integrals accumulated so far."""

    def __init__(self, inputs: ReplayInputs, fixed: _Fixed) -> None:
        vms = inputs.utilization.shape[0]
        self.inputs = inputs
        self.fixed = fixed
        self.host_of = place_power_aware_at_creation(inputs.hosts, inputs.vms)
        self.alive = np.ones(vms, dtype=bool)
        self.order_key = np.arange(vms, dtype=np.int64)
        self.next_key = vms
        self.outgoing = np.zeros(vms, dtype=bool)
        hosts = len(fixed.capacity)
        # The most VMs each host's scheduler map ever held, and the bucket of each VM's key.
        self.map_entries = np.bincount(self.host_of, minlength=hosts).astype(np.int64)
        self.vm_hash = np.array([scheduler_key_hash(vm) for vm in range(vms)], dtype=np.int64)
        self.entry_vm = np.zeros(0, dtype=np.intp)
        self.entry_incoming = np.zeros(0, dtype=bool)
        self.in_flight: list[_Move] = []
        self.migrations = 0
        hosts = len(fixed.capacity)
        self.time_s: float | None = None
        self.load = np.zeros(hosts)
        self.watts = np.zeros(hosts)
        self.active = np.zeros(hosts, dtype=bool)
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

    def allocate(self, utilization: np.ndarray) -> tuple[Allocation, np.ndarray]:
        """The scheduler's shares for the VMs alive now, moving ones counted on both hosts.

        Entries are ordered as the hosts' VM lists (a VM moving in sits where it was appended),
        so that each host's sums add up in CloudSim's order. Returns the allocation and the VM
        of each entry (entries past ``alive.sum()`` are the incoming copies).
        """
        fixed = self.fixed
        present = np.flatnonzero(self.alive)
        incoming_vm = np.array([move.vm for move in self.in_flight], dtype=np.intp)
        vm = np.concatenate([present, incoming_vm])
        slot = np.concatenate(
            [self.host_of[present], np.array([m.target for m in self.in_flight], dtype=np.intp)]
        )
        key = np.concatenate(
            [self.order_key[present], np.array([m.key for m in self.in_flight], dtype=np.int64)]
        )
        incoming = np.zeros(len(vm), dtype=bool)
        incoming[len(present) :] = True
        outgoing = self.outgoing[vm] & ~incoming
        order = np.lexsort((key, slot))
        vm, slot, incoming, outgoing = vm[order], slot[order], incoming[order], outgoing[order]
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
        self.entry_incoming = incoming
        return allocation, present

    def integrate_to(self, time_s: float, allocation: Allocation) -> None:
        """Close the interval from the previous event to ``time_s`` with the state held since then."""
        load = host_load(allocation.slot_allocated_mips, self.fixed.capacity)
        watts = power_w(self.fixed.table_w, self.fixed.group, load)
        if self.time_s is not None:
            dt = time_s - self.time_s
            on = self.load > 0
            self.energy_j += float(((self.watts + (watts - self.watts) / 2) * dt)[on].sum())
            self.active_s += float(self.active.sum()) * dt
            self.short_s += float((self.active & self.short).sum()) * dt
            self.requested_mips_s += float(self.vm_requested.sum()) * dt
            lost = self.vm_migrating & (self.vm_allocated < self.vm_requested)
            self.lost_mips_s += float((self.vm_requested - self.vm_allocated)[lost].sum()) * dt
        self.time_s = time_s

    def hold(self, allocation: Allocation, present: np.ndarray, utilization: np.ndarray) -> None:
        """Record the state after an event: it holds until the next one."""
        fixed = self.fixed
        allocated = allocation.slot_allocated_mips
        self.load = host_load(allocated, fixed.capacity)
        self.watts = power_w(fixed.table_w, fixed.group, self.load)
        self.active = allocated > 0
        self.short = allocated < allocation.slot_requested_mips
        own = ~self.entry_incoming
        vms = self.entry_vm[own]
        self.vm_requested = utilization[vms] * fixed.vm_mips_pe[vms] * fixed.vm_pes[vms]
        self.vm_allocated = allocation.vm_allocated_mips[own]
        self.vm_migrating = self.outgoing[vms]
        self.event_times.append(float(self.time_s if self.time_s is not None else 0.0))
        self.event_active.append(self.active.copy())

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
        allocation, _ = self.allocate(utilization)
        self.integrate_to(time_s, allocation)
        arriving = [move for move in self.in_flight if move.ends_s == time_s]
        self.in_flight = [move for move in self.in_flight if move.ends_s != time_s]
        for move in arriving:
            self.host_of[move.vm] = move.target
            self.order_key[move.vm] = self.take_key()
        moving = np.zeros(len(self.alive), dtype=bool)
        for move in self.in_flight:
            moving[move.vm] = True
        self.outgoing = moving
        allocation, present = self.allocate(utilization)
        self.hold(allocation, present, utilization)
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

    def lists(self) -> list[list[int]]:
        """Each host's VMs in CloudSim's list order (creation or arrival)."""
        present = np.flatnonzero(self.alive)
        ordered = present[np.lexsort((self.order_key[present], self.host_of[present]))]
        bounds = np.concatenate(
            [[0], np.cumsum(np.bincount(self.host_of[ordered], minlength=len(self.fixed.capacity)))]
        )
        flat = ordered.tolist()
        edges = bounds.tolist()
        return [flat[edges[host] : edges[host + 1]] for host in range(len(edges) - 1)]


def _fixed(inputs: ReplayInputs) -> _Fixed:
    """The constants of a run from its hosts and VMs."""
    hosts, vms = inputs.hosts, inputs.vms
    return _Fixed(
        capacity=hosts.capacity_mips,
        pe_mips=hosts.pe_mips,
        group=hosts.group,
        table_w=hosts.power_table_w,
        link_mb_s=hosts.bandwidth_mbit_s * _KBIT_PER_MBIT / _MIGRATION_LINK_DIVISOR,
        vm_mips_pe=vms.mips_per_pe,
        vm_pes=vms.pes,
        vm_ram=vms.ram_mb,
    )


def _policy(inputs: ReplayInputs) -> _Policy:
    """The detector, selector and parameter the policy names."""
    chosen = inputs.policy
    if chosen.selection is None or chosen.parameter is None:
        raise ConfigError(
            f"{chosen.allocation} needs a VM selection and a parameter, e.g. {chosen.allocation}-mmt-1.2",
            where="policy",
        )
    return _Policy(
        detect=detector(chosen.allocation),
        parameter=float(chosen.parameter),
        select=selector(chosen.selection),
        needs_history=chosen.allocation in NEEDS_HISTORY,
        interval_s=inputs.interval_s,
        rng=np.random.default_rng(RANDOM_SELECTION_SEED),
        vm_history=chosen.selection in VM_HISTORY_SELECTIONS,
    )


def _interpolated(utilization: np.ndarray, time_s: float, interval_s: float) -> np.ndarray:
    """Each VM's utilization at ``time_s`` on the line between samples (the last sample held)."""
    sample = int(math.floor(time_s / interval_s))
    low = utilization[:, min(sample, utilization.shape[1] - 1)]
    high = utilization[:, min(sample + 1, utilization.shape[1] - 1)]
    return low + (high - low) / interval_s * (time_s - sample * interval_s)


def _history_window(step_utilization: np.ndarray, step: int, fixed: _Fixed) -> np.ndarray:
    """Each VM's last ≤ 30 step utilizations, newest first, × its MIPS (CloudSim's VM history)."""
    return _vm_history(step_utilization, step) * fixed.vm_mips_pe[:, None]


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
    for step, time_s in enumerate(inputs.step_time_s.tolist()):
        energy_before = run.energy_j
        _complete_until(run, time_s, inputs)
        utilization = step_u[:, step]
        allocation, present = run.allocate(utilization)
        run.integrate_to(time_s, allocation)
        lost = run.remove_vanished(utilization)
        if policy.needs_history:
            history = _history_window(step_u, step, fixed)
        else:
            history = np.zeros((len(run.alive), 1))
        requested = utilization * fixed.vm_mips_pe * fixed.vm_pes
        maps = _SchedulerMaps(run.map_entries, run.vm_hash, lost)
        vm_history = _vm_history(step_u, step) if policy.vm_history else None
        decision = _Decision(
            fixed, policy, run.lists(), requested, history, allocation.slot_allocated_mips, maps, vm_history
        )
        run.start(_decide(decision, utilization), time_s)
        allocation, present = run.allocate(utilization)
        run.hold(allocation, present, utilization)
        steps_done += 1
        step_energy.append(run.energy_j - energy_before)
        step_active.append(int(run.active.sum()))
        step_short.append(int((run.active & run.short).sum()))
        step_alive.append(int(run.alive.sum()))
        if not run.alive.any():
            break
    energy_before = run.energy_j
    _complete_until(run, end_s, inputs, inclusive=True)
    step_energy[-1] += run.energy_j - energy_before
    return _result(inputs, run, steps_done, step_energy, step_active, step_short, step_alive)


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
) -> ReplayResult:
    """Totals and per-step arrays of a migrating replay."""
    times = np.array(run.event_times)
    active = np.stack(run.event_active, axis=1)
    shutdowns, on_before_s = host_shutdowns(active, times)
    sla_time = run.short_s / run.active_s if run.active_s > 0 else float("nan")
    degradation = run.lost_mips_s / run.requested_mips_s if run.requested_mips_s > 0 else float("nan")
    energy_kwh = run.energy_j / JOULES_PER_KWH
    slav = sla_time * degradation
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
    )
