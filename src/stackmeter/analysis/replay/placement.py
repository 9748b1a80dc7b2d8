"""Where VMs go when created: first fit (DVFS) or power-aware best fit (migrating policies), at nominal size."""

from __future__ import annotations

import numba
import numpy as np

from stackmeter.analysis.replay.inputs import MemoryLimit
from stackmeter.analysis.replay.inventory import Hosts, Vms
from stackmeter.analysis.replay.power import host_power_w
from stackmeter.errors import ConfigError


def place_first_fit(hosts: Hosts, vms: Vms) -> np.ndarray:
    """Return the host id of each VM, placed in row order on the lowest-id host that takes it.

    A host takes a VM (CloudSim's ``Host.isSuitableForVm``, at ``t = 0`` when every VM asks its
    nominal size) when each of its cores is at least as fast as the VM's cores, and its MIPS,
    RAM (times the host's allocation ratio) and bandwidth not yet given to earlier VMs cover the
    VM's. Disk is not modelled (the paper's hosts hold 400 of its VMs, far more than their CPUs
    do). The loop over VMs is sequential (each placement changes what the next one sees), so it
    runs compiled.

    :raises ConfigError: when a VM fits on no host (CloudSim's broker aborts the run there)
    """
    placed = _placed(hosts, vms, None, power_aware=False)
    _check_placed(placed, hosts, vms, None)
    return placed


def place_power_aware_at_creation(hosts: Hosts, vms: Vms, memory: MemoryLimit | None = None) -> np.ndarray:
    """Return the host id of each VM as CloudSim 3.0's migrating policies create them (PABFD at t = 0).

    Each VM, in row order and at its nominal size, goes to the host where it adds the least
    power, P(r/C) − P(0), lowest id on ties, among the hosts that take it (as in
    :func:`place_first_fit`). No host has a load before the first step, so every host is costed
    as empty and none is checked for overload: the VMs fill the cheaper host type first, one
    host after another. ``memory`` (a memory-aware policy's) also refuses a host whose VMs'
    memory demand would exceed its limit.

    :raises ConfigError: when a VM fits on no host
    """
    placed = _placed(hosts, vms, memory, power_aware=True)
    _check_placed(placed, hosts, vms, memory)
    return placed


def _placed(hosts: Hosts, vms: Vms, memory: MemoryLimit | None, power_aware: bool) -> np.ndarray:
    """Each VM's host, −1 from the first VM that fits nowhere."""
    count = len(hosts.group)

    def floats(values: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(values, dtype=np.float64)

    return _place(
        floats(hosts.pe_mips),
        floats(hosts.capacity_mips),
        floats(hosts.ram_limit_mb),
        floats(hosts.bandwidth_mbit_s),
        np.full(count, np.inf) if memory is None else floats(memory.host_mb),
        np.ascontiguousarray(hosts.group, dtype=np.int64),
        floats(hosts.power_table_w),
        floats(vms.mips_per_pe),
        floats(vms.pes * vms.mips_per_pe),
        floats(vms.ram_mb),
        floats(vms.bandwidth_mbit_s),
        np.zeros(len(vms.pes)) if memory is None else floats(memory.vm_mb),
        power_aware,
    )


@numba.njit(cache=True, error_model="numpy")
def _place(
    pe_mips: np.ndarray,
    capacity: np.ndarray,
    ram_mb: np.ndarray,
    bandwidth: np.ndarray,
    memory_mb: np.ndarray,
    group: np.ndarray,
    table_w: np.ndarray,
    vm_mips_pe: np.ndarray,
    vm_mips: np.ndarray,
    vm_ram_mb: np.ndarray,
    vm_bandwidth: np.ndarray,
    vm_memory_mb: np.ndarray,
    power_aware: bool,
) -> np.ndarray:
    """First fit, or the least added power P(r/C) − P(0) (lowest id on ties), VM by VM in row order."""
    free_mips = capacity.copy()
    free_ram = ram_mb.copy()
    free_bandwidth = bandwidth.copy()
    free_memory = memory_mb.copy()
    placed = np.full(len(vm_mips), -1, dtype=np.int64)
    for vm in range(len(vm_mips)):
        best = -1
        best_cost = np.inf
        for host in range(len(capacity)):
            if not (
                pe_mips[host] >= vm_mips_pe[vm]
                and free_mips[host] >= vm_mips[vm]
                and free_ram[host] >= vm_ram_mb[vm]
                and free_bandwidth[host] >= vm_bandwidth[vm]
                and free_memory[host] >= vm_memory_mb[vm]
            ):
                continue
            if not power_aware:
                best = host
                break
            cost = host_power_w(table_w, group[host], vm_mips[vm] / capacity[host]) - table_w[group[host], 0]
            if best < 0 or cost < best_cost:
                best, best_cost = host, cost
        if best < 0:
            return placed
        placed[vm] = best
        free_mips[best] -= vm_mips[vm]
        free_ram[best] -= vm_ram_mb[vm]
        free_bandwidth[best] -= vm_bandwidth[vm]
        free_memory[best] -= vm_memory_mb[vm]
    return placed


def _check_placed(placed: np.ndarray, hosts: Hosts, vms: Vms, memory: MemoryLimit | None) -> None:
    """ConfigError naming the first VM that fits on no host (CloudSim aborts such a run)."""
    unplaced = np.flatnonzero(placed < 0)
    if unplaced.size == 0:
        return
    vm = int(unplaced[0])
    in_use = "" if memory is None else f", {memory.vm_mb[vm]:.0f} MB of memory in use"
    raise ConfigError(
        f"VM {vm} ({vms.pes[vm]:g} × {vms.mips_per_pe[vm]:g} MIPS, {vms.ram_mb[vm]:g} MB RAM{in_use}) "
        f"fits on none of the {len(hosts.group)} hosts once VMs 0–{vm - 1} are placed: no host has "
        "cores that fast with enough MIPS, RAM and bandwidth left (CloudSim aborts such a run)",
        where="fleet",
    )
