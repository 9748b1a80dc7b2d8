"""CPU shares under over-subscription: CloudSim's ``VmSchedulerTimeSharedOverSubscription``, vectorised."""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

# A VM being migrated in costs its target 10 % of its MIPS; the one moving out keeps 90 %.
MIGRATION_IN_SHARE = 0.1
MIGRATION_OUT_SHARE = 0.9


class Allocation(NamedTuple):
    """MIPS each VM entry got, and each slot's totals as CloudSim's host accounting sums them.

    ``vm_allocated_mips``: per entry, all its cores. ``slot_allocated_mips``: what the host
    counts as busy (a VM moving out counts in full, ÷ 0.9; one moving in at its 10 %).
    ``slot_requested_mips``: the requests of every VM on the host, uncapped, a VM moving in at
    100 %. ``slot_oversubscribed``: the shares were scaled down.
    """

    vm_allocated_mips: np.ndarray
    slot_allocated_mips: np.ndarray
    slot_requested_mips: np.ndarray
    slot_oversubscribed: np.ndarray


def allocate_mips(
    slot: np.ndarray,
    requested_mips_per_pe: np.ndarray,
    vm_pes: np.ndarray,
    slot_pe_mips: np.ndarray,
    slot_capacity_mips: np.ndarray,
    incoming: np.ndarray | None = None,
    outgoing: np.ndarray | None = None,
) -> Allocation:
    """Share each slot's MIPS among the VM entries in it.

    A slot is one host at one moment: a replay that never migrates solves every (host, step)
    pair in one call; a migrating one calls this once per event with one slot per host.

    Each virtual core asks ``requested_mips_per_pe`` and is capped at the host's core MIPS. If
    the capped requests (a VM moving in at 10 %) fit the host's MIPS, every core gets its capped
    request (× 0.9 moving out, × 0.1 moving in). Otherwise every share is scaled by capacity ÷
    total and rounded down to a whole MIPS, as CloudSim's ``redistributeMipsDueToOverSubscription``.
    CloudSim decides "fits" on a running remainder as it adds VMs one by one (capacity minus each
    request in turn); comparing the total is the same decision but for rounding at an exact fit,
    so slots within rounding of an exact fit are decided CloudSim's way, in entry order (pass
    entries in each host's VM-list order).

    :param slot: the slot of each VM entry (an index into the ``slot_*`` arrays)
    :param requested_mips_per_pe: per entry, the MIPS each of its cores asks (utilization × VM MIPS)
    :param vm_pes: per entry, its number of cores; CloudSim does not check it against the host's
    :param incoming: per entry, whether it is being migrated into this slot's host
    :param outgoing: per entry, whether it is being migrated away from this slot's host
    """
    entries = len(slot)
    incoming = np.zeros(entries, dtype=bool) if incoming is None else incoming
    outgoing = np.zeros(entries, dtype=bool) if outgoing is None else outgoing
    shares = _allocate(
        np.ascontiguousarray(slot, dtype=np.int64),
        np.ascontiguousarray(requested_mips_per_pe, dtype=np.float64),
        np.ascontiguousarray(np.broadcast_to(vm_pes, (entries,)), dtype=np.float64),
        np.ascontiguousarray(slot_pe_mips, dtype=np.float64),
        np.ascontiguousarray(slot_capacity_mips, dtype=np.float64),
        np.ascontiguousarray(incoming, dtype=np.bool_),
        np.ascontiguousarray(outgoing, dtype=np.bool_),
    )
    allocated, slot_allocated, slot_requested, oversubscribed = shares
    return Allocation(
        vm_allocated_mips=allocated,
        slot_allocated_mips=slot_allocated,
        slot_requested_mips=slot_requested,
        slot_oversubscribed=oversubscribed,
    )


@numba.njit(cache=True, error_model="numpy")
def _allocate(
    slot: np.ndarray,
    requested_mips_per_pe: np.ndarray,
    vm_pes: np.ndarray,
    slot_pe_mips: np.ndarray,
    slot_capacity_mips: np.ndarray,
    incoming: np.ndarray,
    outgoing: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`allocate_mips` as loops over entries in their order (every sum added in entry order)."""
    slots = len(slot_capacity_mips)
    entries = len(slot)
    capped = np.empty(entries)
    needed = np.empty(entries)
    slot_needed = np.zeros(slots)
    for i in range(entries):
        capped[i] = min(requested_mips_per_pe[i], slot_pe_mips[slot[i]])
        needed[i] = capped[i] * vm_pes[i] * MIGRATION_IN_SHARE if incoming[i] else capped[i] * vm_pes[i]
        slot_needed[slot[i]] += needed[i]
    oversubscribed = slot_needed > slot_capacity_mips
    # Slots filled to within rounding of an exact fit are decided on a running remainder, as
    # CloudSim adds VMs one by one (capacity minus each request in turn).
    close = np.abs(slot_needed - slot_capacity_mips) <= 1e-9 * slot_capacity_mips
    if close.any():
        free = slot_capacity_mips.copy()
        fits = np.ones(slots, dtype=np.bool_)
        for i in range(entries):
            host = slot[i]
            if close[host] and fits[host]:
                if free[host] < needed[i]:
                    fits[host] = False
                else:
                    free[host] -= needed[i]
        for host in range(slots):
            if close[host]:
                oversubscribed[host] = not fits[host]
    allocated = np.empty(entries)
    slot_allocated = np.zeros(slots)
    slot_requested = np.zeros(slots)
    for i in range(entries):
        host = slot[i]
        c = capped[i]
        if oversubscribed[host]:
            scale = slot_capacity_mips[host] / slot_needed[host]
            if outgoing[i]:
                share = np.floor(c * scale * MIGRATION_OUT_SHARE)
            elif incoming[i]:
                share = np.floor(c * MIGRATION_IN_SHARE * scale)
            else:
                share = np.floor(c * scale)
        elif outgoing[i]:
            share = c * MIGRATION_OUT_SHARE
        elif incoming[i]:
            share = c * MIGRATION_IN_SHARE
        else:
            share = c
        allocated[i] = share * vm_pes[i]
        slot_allocated[host] += allocated[i] / MIGRATION_OUT_SHARE if outgoing[i] else allocated[i]
        slot_requested[host] += requested_mips_per_pe[i] * vm_pes[i]
    return allocated, slot_allocated, slot_requested, oversubscribed


# -- the order in which CloudSim's scheduler re-shares a host ---------------------------------
#
# When a VM leaves a host, CloudSim's scheduler re-adds the others' requests one by one in the
# iteration order of a java.util.HashMap keyed by the VM's uid ("<user id>-<vm id>"), and its free
# MIPS are the capacity minus each request in turn. That order changes the last bits of the
# free MIPS, which decide exact fits (a host that a VM fills exactly). The replay reproduces it.

# The user id of the PlanetLab runs' broker: CloudSim numbers entities as they are created
# (0 the shutdown entity, 1 the information service, 2 the broker).
CLOUDSIM_BROKER_ID = 2
_HASHMAP_INITIAL_BUCKETS = 16
_HASHMAP_LOAD_FACTOR = 0.75


def scheduler_key_hash(vm: int, user: int = CLOUDSIM_BROKER_ID) -> int:
    """The spread hash ``java.util.HashMap`` files a VM's uid under (``String.hashCode``, then h ^ h >>> 16)."""
    h = 0
    for char in f"{user}-{vm}":
        h = (31 * h + ord(char)) & 0xFFFFFFFF
    return h ^ (h >> 16)


@numba.njit(cache=True, error_model="numpy", inline="always")
def map_buckets(most_entries: int) -> int:
    """Buckets of a HashMap that once held ``most_entries`` entries (it doubles past 75 % full, never shrinks)."""
    buckets = _HASHMAP_INITIAL_BUCKETS
    while most_entries > buckets * _HASHMAP_LOAD_FACTOR:
        buckets *= 2
    return buckets
