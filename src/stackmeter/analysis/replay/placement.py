"""Where VMs go when created: first fit (DVFS) or power-aware best fit (migrating policies), at nominal size."""

from __future__ import annotations

import numpy as np

from stackmeter.analysis.replay.inputs import MemoryLimit
from stackmeter.analysis.replay.inventory import Hosts, Vms
from stackmeter.analysis.replay.power import power_w
from stackmeter.errors import ConfigError


def place_first_fit(hosts: Hosts, vms: Vms) -> np.ndarray:
    """Return the host id of each VM, placed in row order on the lowest-id host that takes it.

    A host takes a VM (CloudSim's ``Host.isSuitableForVm``, at ``t = 0`` when every VM asks its
    nominal size) when each of its cores is at least as fast as the VM's cores, and its MIPS,
    RAM (times the host's allocation ratio) and bandwidth not yet given to earlier VMs cover the VM's. Disk is not modelled (the
    paper's hosts hold 400 of its VMs, far more than their CPUs do). The loop runs over VMs
    because each placement changes what the next one sees; each test is vectorised over hosts.

    :raises ConfigError: when a VM fits on no host (CloudSim's broker aborts the run there)
    """
    free_mips = hosts.capacity_mips.copy()
    free_ram_mb = hosts.ram_limit_mb.copy()
    free_bandwidth = hosts.bandwidth_mbit_s.copy()
    placed = np.empty(len(vms.pes), dtype=np.intp)
    vm_mips = vms.pes * vms.mips_per_pe
    for vm in range(len(placed)):
        fits = (
            (hosts.pe_mips >= vms.mips_per_pe[vm])
            & (free_mips >= vm_mips[vm])
            & (free_ram_mb >= vms.ram_mb[vm])
            & (free_bandwidth >= vms.bandwidth_mbit_s[vm])
        )
        host = int(np.argmax(fits))
        if not fits[host]:
            raise ConfigError(
                f"VM {vm} ({vms.pes[vm]:g} × {vms.mips_per_pe[vm]:g} MIPS, {vms.ram_mb[vm]:g} MB RAM) "
                f"fits on none of the {len(free_mips)} hosts once VMs 0–{vm - 1} are placed: "
                "no host has cores that "
                "fast with enough MIPS, RAM and bandwidth left (CloudSim aborts such a run)",
                where="fleet",
            )
        placed[vm] = host
        free_mips[host] -= vm_mips[vm]
        free_ram_mb[host] -= vms.ram_mb[vm]
        free_bandwidth[host] -= vms.bandwidth_mbit_s[vm]
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
    free_mips = hosts.capacity_mips.copy()
    free_ram_mb = hosts.ram_limit_mb.copy()
    free_memory_mb = np.full(len(free_mips), np.inf) if memory is None else memory.host_mb.copy()
    demand_mb = np.zeros(len(vms.pes)) if memory is None else memory.vm_mb
    free_bandwidth = hosts.bandwidth_mbit_s.copy()
    placed = np.empty(len(vms.pes), dtype=np.intp)
    vm_mips = vms.pes * vms.mips_per_pe
    idle_w = hosts.power_table_w[hosts.group, 0]
    for vm in range(len(placed)):
        fits = (
            (hosts.pe_mips >= vms.mips_per_pe[vm])
            & (free_mips >= vm_mips[vm])
            & (free_ram_mb >= vms.ram_mb[vm])
            & (free_bandwidth >= vms.bandwidth_mbit_s[vm])
            & (free_memory_mb >= demand_mb[vm])
        )
        if not fits.any():
            raise ConfigError(
                f"VM {vm} ({vms.pes[vm]:g} × {vms.mips_per_pe[vm]:g} MIPS, {vms.ram_mb[vm]:g} MB RAM"
                + ("" if memory is None else f", {demand_mb[vm]:.0f} MB of memory in use")
                + f") fits on none of the {len(free_mips)} hosts once VMs 0–{vm - 1} are placed "
                "(CloudSim aborts such a run)",
                where="fleet",
            )
        cost = power_w(hosts.power_table_w, hosts.group, vm_mips[vm] / hosts.capacity_mips) - idle_w
        host = int(np.argmin(np.where(fits, cost, np.inf)))
        placed[vm] = host
        free_mips[host] -= vm_mips[vm]
        free_ram_mb[host] -= vms.ram_mb[vm]
        free_bandwidth[host] -= vms.bandwidth_mbit_s[vm]
        free_memory_mb[host] -= demand_mb[vm]
    return placed
