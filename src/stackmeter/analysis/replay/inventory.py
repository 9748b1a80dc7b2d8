"""Per-host and per-VM arrays expanded from a fleet and its VM types, in id order."""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from stackmeter.analysis.replay.power import power_table_w
from stackmeter.errors import ConfigError
from stackmeter.models.replay import (
    HOST_ORDERS,
    HOSTS_GROUPED,
    HOSTS_INTERLEAVED,
    POWER_CURVE_POINTS,
    VM_ASSIGNMENTS,
    VMS_CONTIGUOUS,
    VMS_ROUND_ROBIN,
    Fleet,
    HostGroup,
    VmTypes,
)


class Hosts(NamedTuple):
    """The hosts of a fleet as arrays indexed by host id.

    ``group`` is each host's group in the fleet (also its row of ``power_table_w``);
    ``ram_limit_mb`` the VMs' RAM a host accepts, its RAM × its allocation ratio; ``wake_j``
    what switching it on costs, its wake time at full-load watts.
    """

    group: np.ndarray
    pes: np.ndarray
    pe_mips: np.ndarray
    capacity_mips: np.ndarray
    ram_mb: np.ndarray
    bandwidth_mbit_s: np.ndarray
    power_table_w: np.ndarray
    ram_limit_mb: np.ndarray
    wake_j: np.ndarray


class Vms(NamedTuple):
    """The VMs of a replay as arrays indexed by row of the utilization matrix."""

    vm_type: np.ndarray
    pes: np.ndarray
    mips_per_pe: np.ndarray
    ram_mb: np.ndarray
    bandwidth_mbit_s: np.ndarray


def host_groups_in_id_order(fleet: Fleet) -> np.ndarray:
    """Return the group of each host id, following ``fleet.host_order``.

    Interleaved: host *i* takes the groups in turn, leaving out a group whose hosts are used up
    (counts 3 and 1 give groups 0 1 0 0); grouped: every host of group 0, then group 1, ...
    """
    counts = np.array([group.hosts for group in fleet.groups], dtype=np.int64)
    group = np.repeat(np.arange(len(counts)), counts)
    if fleet.host_order == HOSTS_GROUPED:
        return group
    if fleet.host_order == HOSTS_INTERLEAVED:
        rank = np.arange(len(group)) - np.repeat(np.cumsum(counts) - counts, counts)
        return group[np.lexsort((group, rank))]
    raise ConfigError(
        f"unknown host order {fleet.host_order!r}: use {' or '.join(HOST_ORDERS)}", where="host_order"
    )


def expand_hosts(fleet: Fleet) -> Hosts:
    """Return the fleet's hosts as arrays, checking what the replay relies on."""
    if not fleet.groups or fleet.hosts < 1:
        raise ConfigError(f"fleet {fleet.name!r} has no hosts", where="fleet")
    for each in fleet.groups:
        _check_host_group(each)
    group = host_groups_in_id_order(fleet)
    types = [g.host_type for g in fleet.groups]

    def per_host(values: list[float]) -> np.ndarray:
        return np.array(values, dtype=np.float64)[group]

    pes = per_host([t.pes for t in types])
    pe_mips = per_host([t.mips_per_pe for t in types])
    ram_mb = per_host([t.ram_mb for t in types])
    table_w = power_table_w([t.power for t in types])
    return Hosts(
        group=group,
        pes=pes,
        pe_mips=pe_mips,
        capacity_mips=pes * pe_mips,
        ram_mb=ram_mb,
        bandwidth_mbit_s=per_host([t.bandwidth_mbit_s for t in types]),
        power_table_w=table_w,
        ram_limit_mb=ram_mb * per_host([t.ram_allocation_ratio for t in types]),
        wake_j=per_host([t.wake_s for t in types]) * table_w[group, -1],
    )


def _check_host_group(group: HostGroup) -> None:
    """Raise ConfigError unless a host group is something the replay can simulate."""
    host_type = group.host_type
    watts = np.asarray(host_type.power.watts, dtype=np.float64)
    problems = []
    if group.hosts < 0:
        problems.append(f"a count of {group.hosts} hosts")
    if host_type.pes < 1 or host_type.mips_per_pe <= 0:
        problems.append("needs at least one core of positive MIPS")
    if not host_type.ram_allocation_ratio > 0:
        problems.append(f"a RAM allocation ratio of {host_type.ram_allocation_ratio} (it must be > 0)")
    if not (math.isfinite(host_type.wake_s) and host_type.wake_s >= 0):
        problems.append(f"a wake time of {host_type.wake_s} s (it must be finite and ≥ 0)")
    if watts.shape != (POWER_CURVE_POINTS,) or not np.isfinite(watts).all() or (watts < 0).any():
        problems.append(f"its power curve needs {POWER_CURVE_POINTS} finite watts ≥ 0 (0 %, …, 100 %)")
    if problems:
        raise ConfigError(f"host type {host_type.name!r}: " + "; ".join(problems), where="fleet")


def assign_vm_types(vm_types: VmTypes, vms: int) -> np.ndarray:
    """Return the type index of each of ``vms`` VMs, following ``vm_types.assignment``.

    Contiguous: VM *i* gets type *i* div ⌈*N*/*T*⌉ (CloudSim's ``Helper.createVmList``; with
    few VMs the last types may go unused); round-robin: *i* mod *T*.
    """
    kinds = len(vm_types.types)
    if kinds == 0:
        raise ConfigError("no VM types given", where="vm_types")
    index = np.arange(vms)
    if vm_types.assignment == VMS_CONTIGUOUS:
        return index // max(1, math.ceil(vms / kinds))
    if vm_types.assignment == VMS_ROUND_ROBIN:
        return index % kinds
    raise ConfigError(
        f"unknown VM assignment {vm_types.assignment!r}: use {' or '.join(VM_ASSIGNMENTS)}",
        where="vm_assignment",
    )


def expand_vms(vm_types: VmTypes, vms: int) -> Vms:
    """Return the VMs' sizes as arrays, one entry per row of the utilization matrix."""
    for kind in vm_types.types:
        if kind.pes < 1 or kind.mips_per_pe <= 0 or kind.ram_mb < 0:
            raise ConfigError(
                f"VM type {kind.name!r} needs at least one core of positive MIPS and RAM ≥ 0",
                where="vm_types",
            )
    vm_type = assign_vm_types(vm_types, vms)

    def per_vm(values: list[float]) -> np.ndarray:
        return np.array(values, dtype=np.float64)[vm_type]

    types = vm_types.types
    return Vms(
        vm_type=vm_type,
        pes=per_vm([t.pes for t in types]),
        mips_per_pe=per_vm([t.mips_per_pe for t in types]),
        ram_mb=per_vm([t.ram_mb for t in types]),
        bandwidth_mbit_s=per_vm([t.bandwidth_mbit_s for t in types]),
    )
