"""One decision step of CloudSim 3.0's migrating policies, compiled: host bookkeeping, detectors, PABFD.

A decision step (``optimizeAllocation``) is sequential by nature: each VM placed changes what
the next one sees. In numpy every test of it is a call on a few hundred hosts, and the time goes
to the calls, not the arithmetic; here the same steps run as loops compiled by numba, over a
:class:`Step` of plain arrays. The arithmetic is the vectorised code's, operation for operation
and in the same order (sums in a host's VM-list order, numpy's pairwise sums where the
reference detectors of ``detectors.py`` sum a row), so a replay gives the same figures to the bit.

The per-host state (see ``migration.py`` for what CloudSim does with it):

- ``lists``/``list_len``: each host's VM ids in CloudSim's list order; a VM may sit in two
  lists at once (its source and a tentative target), as in CloudSim until ``restoreAllocation``;
- ``sum_requested``, ``max_ram``, ``history``: what detectors see (Σ requested MIPS, the
  largest VM RAM, Σ VM history × VM MIPS ÷ host MIPS, newest first);
- ``free``: MIPS the scheduler has left, re-shared in HashMap order whenever a VM leaves
  (``free_rehashed`` caches that order's result while ``stale`` is false; ``map_entries`` is the
  most VMs each host's map ever held, which sizes the map and so decides the order).
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

from stackmeter.analysis.replay.detectors import FALLBACK_THRESHOLD, REGRESSION_VALUES, ROBUST_MIN_VALUES
from stackmeter.analysis.replay.power import host_power_w
from stackmeter.analysis.replay.scheduler import map_buckets

THRESHOLD, INTERQUARTILE, MEDIAN_DEVIATION, REGRESSION, ROBUST_REGRESSION = range(5)
# VM selections compiled here; the others (MC, RS) are chosen in Python, VM by VM (MC's R² compiled in selection.py).
MINIMUM_MIGRATION_TIME, MINIMUM_UTILIZATION, REMOVAL_FIT = range(3)
SELECTION_CODES = {"mmt": MINIMUM_MIGRATION_TIME, "mu": MINIMUM_UTILIZATION, "fit": REMOVAL_FIT}
DETECTOR_CODES = {"thr": THRESHOLD, "iqr": INTERQUARTILE, "mad": MEDIAN_DEVIATION, "lr": REGRESSION}
DETECTOR_CODES["lrr"] = ROBUST_REGRESSION
_DOUBLE_MAX = np.finfo(np.float64).max
# PABFD picks its cheapest candidates one at a time this many times before sorting the rest.
_PICKS_BEFORE_SORTING = 8

# error_model="numpy": a float division by zero gives inf or NaN, as in numpy, instead of raising.
# Compiled functions are cached beside the module, so only a first run compiles them (about a minute).
_jit = numba.njit(cache=True, error_model="numpy")
# Called in the loops over hosts with the whole Step: a call of a cached function passes it by
# value (a copy of some thirty arrays), so the small ones are inlined into their callers.
_inlined = numba.njit(cache=True, error_model="numpy", inline="always")


class Step(NamedTuple):
    """Arrays of one decision step: the run's constants, this step's inputs, the tentative state.

    ``policy`` holds the detector code, its parameter, the step length in seconds, whether
    the detector reads histories (1.0 or 0.0), the evacuation cap (inf: none, CloudSim's rule),
    whether RAM limits a migration's target (1.0 or 0.0; CloudSim: 0) and whether the policy is
    memory-aware (1.0 or 0.0). ``lr_weights[a]`` are LR's prediction weights
    ``a`` steps ahead; ``sigma`` the tricube standard deviations LRR starts from.
    """

    capacity: np.ndarray
    pe_mips: np.ndarray
    group: np.ndarray
    table_w: np.ndarray
    link_mb_s: np.ndarray
    vm_pes: np.ndarray
    vm_ram: np.ndarray
    vm_mips_pe: np.ndarray
    hashes: np.ndarray
    policy: np.ndarray
    lr_weights: np.ndarray
    sigma: np.ndarray
    utilization: np.ndarray
    requested: np.ndarray
    per_pe: np.ndarray
    history_mips: np.ndarray
    load_mips: np.ndarray
    host_utilization: np.ndarray
    power_now: np.ndarray
    lists: np.ndarray
    list_len: np.ndarray
    map_entries: np.ndarray
    sum_requested: np.ndarray
    free: np.ndarray
    free_rehashed: np.ndarray
    stale: np.ndarray
    max_ram: np.ndarray
    history: np.ndarray
    # Σ requested MIPS of each host at the start of the step (the evacuation cap counts the change).
    start_requested: np.ndarray
    # The VMs' RAM each host accepts and the RAM of the VMs in its list (policy[5] ≠ 0: a
    # target needs room).
    host_ram: np.ndarray
    sum_ram: np.ndarray
    # A memory-aware policy's (policy[6] ≠ 0): each VM's memory demand, what each host may hold,
    # and the demand of the VMs in its list.
    vm_memory: np.ndarray
    host_memory: np.ndarray
    sum_memory: np.ndarray
    # Two rows of a history's width that IQR and MAD sort in, so that their checks allocate nothing.
    scratch: np.ndarray


# -- power and the scheduler's order ------------------------------------------------------------


@_inlined
def _capped(s: Step, vm: int, host: int) -> float:
    """The MIPS a VM takes from a host's scheduler: its per-core request capped at the host's cores."""
    return min(s.per_pe[vm], s.pe_mips[host]) * s.vm_pes[vm]


@_inlined
def _free_rehashed(s: Step, host: int) -> float:
    """The host's free MIPS once its scheduler re-adds its VMs in HashMap order (cached)."""
    return _rehashed(
        host, s.lists, s.list_len, s.map_entries, s.hashes, s.per_pe, s.pe_mips, s.vm_pes, s.capacity,
        s.stale, s.free_rehashed,
    )  # fmt: skip


@_inlined
def _grow_map(s: Step, host: int, entries: int) -> None:
    """Record that a host's scheduler map held ``entries`` VMs (a bigger map iterates anew)."""
    _grown(host, entries, s.map_entries, s.stale)


# Over arrays, not the Step: a loop whose body hands the Step to a function holds a reference to
# each of its arrays per iteration, which costs more than the work (find_host calls these in one).


@_inlined
def _rehashed(
    host: int,
    lists: np.ndarray,
    list_len: np.ndarray,
    map_entries: np.ndarray,
    hashes: np.ndarray,
    per_pe: np.ndarray,
    pe_mips: np.ndarray,
    vm_pes: np.ndarray,
    capacity: np.ndarray,
    stale: np.ndarray,
    free_rehashed: np.ndarray,
) -> float:
    """:func:`_free_rehashed` over the arrays it reads and caches in."""
    if stale[host]:
        mask = map_buckets(map_entries[host]) - 1
        n = list_len[host]
        order = lists[host, :n].copy()
        keys = hashes[order] & mask
        for i in range(1, n):  # a stable insertion sort by bucket
            vm, key = order[i], keys[i]
            j = i - 1
            while j >= 0 and keys[j] > key:
                order[j + 1], keys[j + 1] = order[j], keys[j]
                j -= 1
            order[j + 1], keys[j + 1] = vm, key
        free = capacity[host]
        for i in range(n):
            vm = order[i]
            request = min(per_pe[vm], pe_mips[host]) * vm_pes[vm]
            if free < request:
                free = 0.0
                break
            free -= request
        free_rehashed[host] = free
        stale[host] = False
    return free_rehashed[host]


@_inlined
def _grown(host: int, entries: int, map_entries: np.ndarray, stale: np.ndarray) -> None:
    """:func:`_grow_map` over the arrays it changes."""
    before = map_entries[host]
    if entries > before:
        map_entries[host] = entries
        if map_buckets(entries) != map_buckets(before):
            stale[host] = True


# -- the tentative state ------------------------------------------------------------------------


def begin(vanished: np.ndarray, **inputs: np.ndarray) -> Step:
    """A :class:`Step` from the run's constants and this step's inputs, its tentative state started.

    ``inputs`` are the fields of a Step up to ``map_entries``, ``host_ram``, ``vm_memory`` and
    ``host_memory``; the sums the step then keeps up to date are allocated here and filled by
    :func:`start`.
    """
    hosts = len(inputs["capacity"])
    state = Step(
        **inputs,
        sum_requested=np.zeros(hosts),
        free=np.zeros(hosts),
        free_rehashed=np.zeros(hosts),
        stale=np.ones(hosts, dtype=np.bool_),
        max_ram=np.zeros(hosts),
        history=np.zeros((hosts, inputs["history_mips"].shape[1])),
        start_requested=np.zeros(hosts),
        sum_ram=np.zeros(hosts),
        sum_memory=np.zeros(hosts),
        scratch=np.zeros((2, inputs["history_mips"].shape[1])),
    )
    start(state, vanished)
    return state


@_jit
def start(s: Step, vanished: np.ndarray) -> None:
    """Each host's sums at the start of the step, added up in list order as CloudSim does."""
    needs_history = s.policy[3] != 0.0
    for host in range(len(s.capacity)):
        total = 0.0
        capped_total = 0.0
        free = s.capacity[host]
        ram = 0.0
        ram_used = 0.0
        memory = 0.0
        for i in range(s.list_len[host]):
            vm = s.lists[host, i]
            ram_used += s.vm_ram[vm]
            memory += s.vm_memory[vm]
            total += s.requested[vm]
            capped = _capped(s, vm, host)
            capped_total += capped
            free -= capped
            ram = max(ram, s.vm_ram[vm])
            if needs_history:
                s.history[host] += s.history_mips[vm] / s.capacity[host]
        s.sum_requested[host] = total
        s.free[host] = 0.0 if capped_total > s.capacity[host] else free
        s.max_ram[host] = ram
        s.start_requested[host] = total
        s.sum_ram[host] = ram_used
        s.sum_memory[host] = memory
        s.stale[host] = True
        if vanished[host]:
            s.free[host] = _free_rehashed(s, host)


@_jit
def add(s: Step, vm: int, host: int) -> None:
    """Place a VM on a host tentatively (CloudSim's ``vmCreate``)."""
    s.lists[host, s.list_len[host]] = vm
    s.list_len[host] += 1
    s.stale[host] = True
    _grow_map(s, host, s.list_len[host])
    s.sum_requested[host] += s.requested[vm]
    capped = _capped(s, vm, host)
    s.free[host] = s.free[host] - capped if s.free[host] >= capped else 0.0
    s.max_ram[host] = max(s.max_ram[host], s.vm_ram[vm])
    s.sum_ram[host] += s.vm_ram[vm]
    s.sum_memory[host] += s.vm_memory[vm]
    if s.policy[3] != 0.0:
        s.history[host] += s.history_mips[vm] / s.capacity[host]


@_jit
def remove(s: Step, vm: int, host: int) -> None:
    """Take a VM off a host's list (CloudSim's ``vmDestroy``) and recompute the host's sums."""
    n = s.list_len[host]
    at = 0
    while s.lists[host, at] != vm:
        at += 1
    s.lists[host, at : n - 1] = s.lists[host, at + 1 : n].copy()
    s.list_len[host] = n - 1
    total = 0.0
    ram = 0.0
    for i in range(n - 1):
        total += s.requested[s.lists[host, i]]
        ram = max(ram, s.vm_ram[s.lists[host, i]])
    s.sum_requested[host] = total
    s.max_ram[host] = ram
    s.sum_ram[host] -= s.vm_ram[vm]
    s.sum_memory[host] -= s.vm_memory[vm]
    s.stale[host] = True
    s.free[host] = _free_rehashed(s, host)
    if s.policy[3] != 0.0:
        row = np.zeros(s.history.shape[1])
        for i in range(n - 1):
            row += s.history_mips[s.lists[host, i]] / s.capacity[host]
        s.history[host] = row


# -- detectors, one host at a time --------------------------------------------------------------


@_jit
def pairwise_sum(a: np.ndarray) -> float:
    """Σ a as numpy's ``add.reduce`` sums a contiguous row (pairwise, eight partial sums)."""
    n = len(a)
    if n < 8:
        res = -0.0
        for i in range(n):
            res += a[i]
        return res
    if n <= 128:
        r = a[:8].copy()
        i = 8
        while i < n - (n % 8):
            for j in range(8):
                r[j] += a[i + j]
            i += 8
        res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]))
        while i < n:
            res += a[i]
            i += 1
        return res
    raise ValueError("pairwise_sum sums rows of at most 128 values (histories hold 30)")


@_jit
def _median(values: np.ndarray) -> float:
    """Median; the mean of the two middle values for an even count."""
    return _sorted_median(np.sort(values))


@_inlined
def _sorted_median(ordered: np.ndarray) -> float:
    """:func:`_median` of values already in order."""
    n = len(ordered)
    if n % 2:
        return ordered[n // 2]
    return (ordered[n // 2 - 1] + ordered[n // 2]) / 2.0


@_inlined
def _robust_verdict(policy: np.ndarray, load: float, ordered: np.ndarray, deviations: np.ndarray) -> bool:
    """IQR's or MAD's verdict from a host's history values in order (``deviations``: room for as many).

    Order statistics do not depend on the order the values come in, so MAD's deviations from
    the median are taken from the sorted values.
    """
    length = len(ordered)
    if int(policy[0]) == INTERQUARTILE:
        upper = int(np.floor(0.75 * (length + 1) + 0.5)) - 1
        lower = int(np.floor(0.25 * (length + 1) + 0.5)) - 1
        return load > 1 - policy[1] * (ordered[upper] - ordered[lower])
    middle = _sorted_median(ordered)
    for i in range(length):
        deviations[i] = np.abs(middle - ordered[i])
    deviations.sort()
    return load > 1 - policy[1] * _sorted_median(deviations)


@_jit
def weighted_line(y: np.ndarray, sigma: np.ndarray) -> tuple[float, float]:
    """Intercept and slope of the weighted least-squares line through ``y`` at x = 1 … n (weights 1/σ²)."""
    n = len(y)
    x = np.arange(1, n + 1).astype(np.float64)
    w = 1.0 / (sigma * sigma)
    wx = w * x
    sw = pairwise_sum(w)
    sx = pairwise_sum(wx)
    sxx = pairwise_sum(wx * x)
    sy = pairwise_sum(w * y)
    sxy = pairwise_sum(wx * y)
    slope = (sw * sxy - sx * sy) / (sw * sxx - sx * sx)
    intercept = (sy - slope * sx) / sw
    return intercept, slope


@_jit
def _robust_prediction(y: np.ndarray, sigma: np.ndarray, ahead: float) -> float:
    """LRR's fitted line ``ahead`` steps past the newest value: tricube fit, bisquare refit."""
    intercept, slope = weighted_line(y, sigma)
    n = len(y)
    residuals = np.empty(n)
    for i in range(n):
        residuals[i] = y[i] - (intercept + (i + 1.0) * slope)
    s6 = _median(np.abs(residuals)) * 6
    robust = np.empty(n)
    for i in range(n):
        ratio = residuals[i] / s6
        beta = (1 - ratio * ratio) * (1 - ratio * ratio)
        robust[i] = (1 / beta) * sigma[i] if beta > 0 else _DOUBLE_MAX
    robust[0] = robust[2]
    robust[1] = robust[2]
    intercept, slope = weighted_line(y, robust)
    return intercept + slope * (REGRESSION_VALUES + ahead)


@_jit
def detect(
    policy: np.ndarray,
    lr_weights: np.ndarray,
    sigma: np.ndarray,
    load: float,
    history: np.ndarray,
    length: int,
    ahead: float,
) -> bool:
    """The policy's detector on one host: its load, history (newest first), trimmed length and ⌈migration ÷ step⌉.

    The same rules as ``detectors.py`` (THR 0.7 below the values IQR/MAD (12) and LR/LRR (10) need).
    """
    code = int(policy[0])
    parameter = policy[1]
    if code == THRESHOLD:
        return load > parameter
    if code == INTERQUARTILE or code == MEDIAN_DEVIATION:
        if length < ROBUST_MIN_VALUES:
            return load > FALLBACK_THRESHOLD
        return _robust_verdict(policy, load, np.sort(history[:length]), np.empty(length))
    if length < REGRESSION_VALUES:
        return load > FALLBACK_THRESHOLD
    y = history[REGRESSION_VALUES - 1 :: -1].copy()
    if code == REGRESSION:
        weights = lr_weights[int(ahead)]
        predicted = 0.0
        for i in range(REGRESSION_VALUES):
            predicted += y[i] * weights[i]
    else:
        predicted = _robust_prediction(y, sigma, ahead)
    return predicted * parameter >= 1


@_inlined
def _trimmed_length(history: np.ndarray) -> int:
    """Values left once trailing zeros are trimmed (``MathUtil.trimZeroTail``)."""
    n = len(history)
    while n > 0 and history[n - 1] == 0:
        n -= 1
    return n


@_inlined
def _regression_overloaded(s: Step, host: int, vm: int, load: float, ahead: float) -> bool:
    """:func:`detect` for LR without building the history row: its values are summed as they are read."""
    history, extra = s.history, s.history_mips
    source = max(vm, 0)
    capacity = s.capacity[host]
    length = history.shape[1]
    while length > 0:
        k = length - 1
        if (history[host, k] + extra[source, k] / capacity if vm >= 0 else history[host, k]) != 0:
            break
        length -= 1
    if length < REGRESSION_VALUES:
        return load > FALLBACK_THRESHOLD
    weights = s.lr_weights
    at = int(ahead)
    predicted = 0.0
    for i in range(REGRESSION_VALUES):
        k = REGRESSION_VALUES - 1 - i
        value = history[host, k] + extra[source, k] / capacity if vm >= 0 else history[host, k]
        predicted += value * weights[at, i]
    return predicted * s.policy[1] >= 1


@_inlined
def _robust_overloaded(s: Step, host: int, vm: int, load: float) -> bool:
    """:func:`detect` for IQR and MAD, the history row (with ``vm`` added) read into ``scratch``.

    The same values and the same order statistics as ``detect``: a median or quartile does not
    depend on the order the values come in, so they are sorted in place.
    """
    values = s.scratch[0]
    capacity = s.capacity[host]
    width = s.history.shape[1]
    for k in range(width):
        values[k] = s.history[host, k] + s.history_mips[vm, k] / capacity if vm >= 0 else s.history[host, k]
    length = width
    while length > 0 and values[length - 1] == 0:
        length -= 1
    if length < ROBUST_MIN_VALUES:
        return load > FALLBACK_THRESHOLD
    ordered = values[:length]
    ordered.sort()
    return _robust_verdict(s.policy, load, ordered, s.scratch[1, :length])


@_inlined
def overloaded(s: Step, host: int, vm: int) -> bool:
    """The detector's verdict on a host as it is (``vm`` < 0) or with ``vm`` added."""
    load = s.sum_requested[host]
    if vm >= 0:
        load = load + s.requested[vm]
    load = load / s.capacity[host]
    if s.policy[3] == 0.0:
        return load > s.policy[1]
    code = int(s.policy[0])
    if code == INTERQUARTILE or code == MEDIAN_DEVIATION:
        return _robust_overloaded(s, host, vm, load)
    ram = s.max_ram[host]
    if vm >= 0:
        ram = max(ram, s.vm_ram[vm])
    ahead = np.ceil(ram / s.link_mb_s[host] / s.policy[2])
    if code == REGRESSION:
        return _regression_overloaded(s, host, vm, load, ahead)
    if vm >= 0:
        history = s.history[host] + s.history_mips[vm] / s.capacity[host]
    else:
        history = s.history[host]
    return detect(s.policy, s.lr_weights, s.sigma, load, history, _trimmed_length(history), ahead)


@_jit
def overloaded_hosts(s: Step) -> np.ndarray:
    """Which hosts the detector flags at the start of the step (:func:`overloaded` of each, as it is)."""
    return _flag_hosts(
        s.policy, s.lr_weights, s.sigma, s.sum_requested, s.capacity, s.max_ram, s.link_mb_s, s.history
    )


@_jit
def _flag_hosts(
    policy: np.ndarray,
    lr_weights: np.ndarray,
    sigma: np.ndarray,
    sum_requested: np.ndarray,
    capacity: np.ndarray,
    max_ram: np.ndarray,
    link_mb_s: np.ndarray,
    history: np.ndarray,
) -> np.ndarray:
    """:func:`overloaded_hosts` over the arrays it reads.

    Passed the arrays rather than the Step: a loop whose body hands the whole Step on holds a
    reference to each of its arrays per host, which costs more than the test itself.
    """
    flags = np.zeros(len(capacity), dtype=np.bool_)
    for host in range(len(capacity)):
        load = sum_requested[host] / capacity[host]
        if policy[3] == 0.0:
            flags[host] = load > policy[1]
            continue
        row = history[host]
        ahead = np.ceil(max_ram[host] / link_mb_s[host] / policy[2])
        flags[host] = detect(policy, lr_weights, sigma, load, row, _trimmed_length(row), ahead)
    return flags


# -- PABFD and underload consolidation ----------------------------------------------------------


@_jit
def _candidates(
    candidates: np.ndarray,
    excluded: np.ndarray,
    pe_mips: np.ndarray,
    free: np.ndarray,
    load_mips: np.ndarray,
    group: np.ndarray,
    groups: int,
    per_pe: float,
    requested: float,
    ram_limits: bool,
    sum_ram: np.ndarray,
    vm_ram: float,
    host_ram: np.ndarray,
    memory_limits: bool,
    sum_memory: np.ndarray,
    vm_memory: float,
    host_memory: np.ndarray,
    cap: float,
    sum_requested: np.ndarray,
    start_requested: np.ndarray,
    capacity: np.ndarray,
) -> int:
    """The hosts :func:`find_host` may choose, in id order, into ``candidates``; returns how many.

    Hosts empty at the start of the step cost the same within a host type and always pass, so
    only the first of each type that qualifies can be chosen: the others are left out. (Over
    arrays rather than the Step: a loop that reads the Step amid calls holds its arrays per host.)
    """
    count = 0
    empty_seen = np.zeros(groups, dtype=np.bool_)
    for host in range(len(capacity)):
        if excluded[host] or pe_mips[host] < per_pe or free[host] < requested:
            continue
        empty = load_mips[host] == 0
        if empty and empty_seen[group[host]]:
            continue
        if ram_limits and sum_ram[host] + vm_ram > host_ram[host]:
            continue
        if memory_limits and sum_memory[host] + vm_memory > host_memory[host]:
            continue
        if cap < np.inf:
            tentative = load_mips[host] + (sum_requested[host] - start_requested[host])
            if (tentative + requested) / capacity[host] > cap:
                continue
        if empty:
            empty_seen[group[host]] = True
        candidates[count] = host
        count += 1
    return count


@_jit
def find_host(s: Step, vm: int, excluded: np.ndarray, cap: float = np.inf) -> int:
    """PABFD (``findHostForVm``): the host where the VM adds the least power, or −1.

    A host qualifies when not excluded, its cores are at least as fast as the VM's per-core
    request and its free MIPS cover the VM's request; one loaded at the start of the step must
    not be overloaded with the VM added. CloudSim's check places the VM on every loaded
    candidate and takes it off again, which re-shares its free MIPS in HashMap order and grows
    its map for a moment: that is applied to all of them first. The cost is
    P((L + r)/C) − P(L/C) with L the host's load at the start of the step; ties go to the
    lowest id. Checks have no side effects, so they run in cost order until one passes.

    ``cap`` (stackmeter's evacuation cap; inf: none) also refuses a host whose load with the VM,
    its load at the start of the step plus what this step has placed on it or taken off, would
    exceed that fraction of its capacity; a memory-aware policy, one whose VMs' memory demand
    with the VM's would exceed what the host may hold.
    """
    requested = s.requested[vm]
    per_pe = requested / s.vm_pes[vm]
    hosts = len(s.capacity)
    candidates = np.empty(hosts, dtype=np.int64)
    cost = np.empty(hosts)
    count = _candidates(
        candidates,
        excluded,
        s.pe_mips,
        s.free,
        s.load_mips,
        s.group,
        len(s.table_w),
        per_pe,
        requested,
        s.policy[5] != 0.0,
        s.sum_ram,
        s.vm_ram[vm],
        s.host_ram,
        s.policy[6] != 0.0,
        s.sum_memory,
        s.vm_memory[vm],
        s.host_memory,
        cap,
        s.sum_requested,
        s.start_requested,
        s.capacity,
    )
    if count == 0:
        return -1
    lists, list_len, map_entries, hashes = s.lists, s.list_len, s.map_entries, s.hashes
    per_pes, pe_mips, vm_pes, capacity, stale = s.per_pe, s.pe_mips, s.vm_pes, s.capacity, s.stale
    free, free_rehashed, load_mips, table_w, group = s.free, s.free_rehashed, s.load_mips, s.table_w, s.group
    power_now = s.power_now
    for i in range(count):
        host = candidates[i]
        if load_mips[host] != 0:
            _grown(host, list_len[host] + 1, map_entries, stale)
            free[host] = _rehashed(
                host,
                lists,
                list_len,
                map_entries,
                hashes,
                per_pes,
                pe_mips,
                vm_pes,
                capacity,
                stale,
                free_rehashed,
            )
        after = (load_mips[host] + requested) / capacity[host]
        cost[i] = host_power_w(table_w, group[host], after) - power_now[host]
    # In cost order, lowest id on ties, NaN last (a stable sort's order): usually the first few
    # pass, so pick the cheapest left a few times before sorting the rest.
    tried = np.zeros(count, dtype=np.bool_)
    for _ in range(_PICKS_BEFORE_SORTING):
        best = -1
        for i in range(count):
            if not tried[i] and (
                best < 0 or cost[i] < cost[best] or (np.isnan(cost[best]) and not np.isnan(cost[i]))
            ):
                best = i
        if best < 0:
            return -1
        tried[best] = True
        host = candidates[best]
        if s.load_mips[host] == 0 or not overloaded(s, host, vm):
            return host
    rest = np.flatnonzero(~tried[:count])
    for i in rest[np.argsort(cost[rest], kind="mergesort")]:
        host = candidates[i]
        if s.load_mips[host] == 0 or not overloaded(s, host, vm):
            return host
    return -1


@_jit
def by_demand(s: Step, vms: np.ndarray) -> np.ndarray:
    """VMs by requested MIPS per core, highest first, stable (``PowerVmList.sortByCpuUtilization``)."""
    keys = -(s.utilization[vms] * s.vm_mips_pe[vms])
    return vms[np.argsort(keys, kind="mergesort")]


@_jit
def place(s: Step, vms: np.ndarray, excluded: np.ndarray) -> np.ndarray:
    """PABFD for each VM in turn, placed tentatively; returns each VM's target (−1: none)."""
    targets = np.full(len(vms), -1, dtype=np.int64)
    for i in range(len(vms)):
        target = find_host(s, vms[i], excluded)
        if target >= 0:
            add(s, vms[i], target)
            targets[i] = target
    return targets


@_jit
def _overloaded_without(s: Step, host: int, vm: int) -> bool:
    """The detector's verdict on a host with one of its VMs taken off (its sums less the VM's)."""
    capacity = s.capacity[host]
    load = (s.sum_requested[host] - s.requested[vm]) / capacity
    if s.policy[3] == 0.0:
        return load > s.policy[1]
    ram = 0.0
    for i in range(s.list_len[host]):
        other = s.lists[host, i]
        if other != vm:
            ram = max(ram, s.vm_ram[other])
    history = s.history[host] - s.history_mips[vm] / capacity
    ahead = np.ceil(ram / s.link_mb_s[host] / s.policy[2])
    return detect(s.policy, s.lr_weights, s.sigma, load, history, _trimmed_length(history), ahead)


@_jit
def _select(s: Step, host: int, selection: int) -> int:
    """MMT (least RAM) or MU (lowest utilization, as requested MIPS ÷ VM MIPS), first listed on ties.

    ``fit`` (stackmeter's): MMT among the VMs whose removal alone ends the overload, MMT among
    all when none does.
    """
    if selection == REMOVAL_FIT:
        best = -1
        for i in range(s.list_len[host]):
            vm = s.lists[host, i]
            if (best < 0 or s.vm_ram[vm] < s.vm_ram[best]) and not _overloaded_without(s, host, vm):
                best = vm
        if best >= 0:
            return best
        selection = MINIMUM_MIGRATION_TIME
    best = s.lists[host, 0]
    if selection == MINIMUM_MIGRATION_TIME:
        best_key = s.vm_ram[best]
    else:
        best_key = s.utilization[best] * s.vm_mips_pe[best] / s.vm_mips_pe[best]
    for i in range(1, s.list_len[host]):
        vm = s.lists[host, i]
        if selection == MINIMUM_MIGRATION_TIME:
            key = s.vm_ram[vm]
        else:
            key = s.utilization[vm] * s.vm_mips_pe[vm] / s.vm_mips_pe[vm]
        if key < best_key:
            best, best_key = vm, key
    return best


@_jit
def evacuate_overloaded(s: Step, flagged: np.ndarray, selection: int) -> np.ndarray:
    """VMs leave each flagged host, in host order, chosen by ``selection``, until it is no longer overloaded."""
    pool = np.empty(len(s.requested), dtype=np.int64)
    count = 0
    for host in range(len(flagged)):
        while flagged[host] and s.list_len[host]:
            vm = _select(s, host, selection)
            pool[count] = vm
            count += 1
            remove(s, vm, host)
            if not overloaded(s, host, -1):
                break
    return pool[:count]


@_jit
def place_and_consolidate(s: Step, pool: np.ndarray, flagged: np.ndarray) -> np.ndarray:
    """The step's migrations (VM, target): the pool placed by PABFD, then underload consolidation's."""
    ordered = by_demand(s, pool)
    targets = place(s, ordered, flagged)
    evacuations = consolidate_underloaded(s, flagged)
    placed = np.flatnonzero(targets >= 0)
    migrations = np.empty((len(placed) + len(evacuations), 2), dtype=np.int64)
    migrations[: len(placed), 0] = ordered[placed]
    migrations[: len(placed), 1] = targets[placed]
    migrations[len(placed) :] = evacuations
    return migrations


@_jit
def consolidate_underloaded(s: Step, flagged: np.ndarray) -> np.ndarray:
    """``getMigrationMapFromUnderUtilizedHosts``: evacuate the least-loaded hosts, all or nothing.

    Returns the migrations (VM, target) in CloudSim's order; see ``migration.py`` for the rule.
    """
    switched_off = s.host_utilization == 0
    not_source = flagged | switched_off
    not_target = not_source.copy()
    migrations = np.empty((len(s.requested), 2), dtype=np.int64)
    count = 0
    placed_vm = np.empty(len(s.requested), dtype=np.int64)
    placed_host = np.empty(len(s.requested), dtype=np.int64)
    for host in np.argsort(s.host_utilization, kind="mergesort"):
        u = s.host_utilization[host]
        if not_source[host] or not 0 < u < 1 or s.list_len[host] == 0:
            continue
        not_source[host] = True
        not_target[host] = True
        placed = 0
        for vm in by_demand(s, s.lists[host, : s.list_len[host]].copy()):
            target = find_host(s, vm, not_target, s.policy[4])
            if target < 0:
                for i in range(placed):
                    remove(s, placed_vm[i], placed_host[i])
                placed = 0
                break
            add(s, vm, target)
            placed_vm[placed] = vm
            placed_host[placed] = target
            placed += 1
        for i in range(placed):
            not_source[placed_host[i]] = True
            migrations[count, 0] = placed_vm[i]
            migrations[count, 1] = placed_host[i]
            count += 1
    return migrations[:count]
