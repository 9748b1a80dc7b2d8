"""Consolidation replay records: host and VM types, fleets, policies, semantics profiles, results."""

from __future__ import annotations

from types import MappingProxyType
from typing import NamedTuple

import numpy as np

# A power curve gives the watts at 0 %, 10 %, ..., 100 % CPU load (SPECpower_ssj2008's points).
POWER_CURVE_POINTS = 11

# How host ids are given to the hosts of a fleet's groups.
HOSTS_INTERLEAVED = "interleaved"
HOSTS_GROUPED = "grouped"
HOST_ORDERS: tuple[str, ...] = (HOSTS_INTERLEAVED, HOSTS_GROUPED)

# How the VMs of a replay (rows of the utilization matrix, in order) are given VM types.
VMS_CONTIGUOUS = "contiguous"
VMS_ROUND_ROBIN = "round-robin"
VM_ASSIGNMENTS: tuple[str, ...] = (VMS_CONTIGUOUS, VMS_ROUND_ROBIN)

# What a VM's demand is at a decision step.
STEP_SAMPLE = "sample"
STEP_INTERPOLATE = "interpolate"


class PowerCurve(NamedTuple):
    """A server's power draw against CPU load, CloudSim's ``PowerModelSpecPower``.

    ``watts[i]`` is the draw at ``i × 10 %`` of the host's total MIPS; between two points the
    draw is linear. Above 100 % the host draws ``watts[-1]``: CloudSim throws for a load above 1
    (after forgiving 1 %), but its scheduler never allocates more MIPS than a host has, so a load
    above 1 is only rounding there; stackmeter saturates instead of failing. A load below 0 is
    not a load and is refused by the replay.

    Example: ``PowerCurve((86, 89.4, 92.6, 96, 99.5, 102, 106, 108, 112, 114, 117))`` (HP
    ProLiant ML110 G4) draws 86 W idle, 87.7 W at 5 % and 117 W at full load.
    """

    watts: tuple[float, ...]


class HostType(NamedTuple):
    """A kind of server: ``pes`` cores of ``mips_per_pe`` MIPS each, memory, network and power.

    ``bandwidth_mbit_s`` is the network link a migration uses (CloudSim's 1 Gbit/s host is 1000).
    ``ram_allocation_ratio`` is Nova's and Placement's: the VMs' RAM a host accepts is
    ``ram_mb × ratio`` (1.0: no overcommit; ``inf``: RAM never refuses a VM, as CloudSim after
    creation). ``wake_s`` is how long a host takes to come back on once switched off, drawing its
    full-load watts meanwhile; it costs energy under a profile with ``wake_costs_energy``.
    """

    name: str
    pes: int
    mips_per_pe: float
    ram_mb: float
    bandwidth_mbit_s: float
    power: PowerCurve
    ram_allocation_ratio: float = 1.0
    wake_s: float = 0.0

    @property
    def mips(self) -> float:
        """Total MIPS of the host (all its cores)."""
        return self.pes * self.mips_per_pe


class HostGroup(NamedTuple):
    """``hosts`` hosts of one type."""

    host_type: HostType
    hosts: int


class Fleet(NamedTuple):
    """The hosts of a replay, in groups, and the order in which hosts get their ids (0, 1, ...).

    ``host_order`` is :data:`HOSTS_INTERLEAVED` (host *i* takes the groups in turn, skipping a group
    once its hosts are used up: CloudSim's host *i* has type *i* mod 2) or :data:`HOSTS_GROUPED` (all
    hosts of the first group, then those of the next). Ids matter: first fit and best fit break
    ties towards the lowest id.
    """

    name: str
    groups: tuple[HostGroup, ...]
    host_order: str

    @property
    def hosts(self) -> int:
        """Number of hosts."""
        return sum(group.hosts for group in self.groups)


class VmType(NamedTuple):
    """A VM size: ``pes`` virtual cores of ``mips_per_pe`` MIPS, memory and network.

    ``ram_mb`` decides placement at creation and how long a migration takes.
    """

    name: str
    mips_per_pe: float
    pes: int
    ram_mb: float
    bandwidth_mbit_s: float


class VmTypes(NamedTuple):
    """The VM sizes of a replay and how the VMs (rows of the utilization matrix) get them.

    ``assignment`` is :data:`VMS_CONTIGUOUS` (VM *i* of *N* gets type *i* div ⌈*N*/*T*⌉: the list in
    *T* contiguous blocks, as CloudSim's PlanetLab examples do) or :data:`VMS_ROUND_ROBIN` (type *i*
    mod *T*).
    """

    types: tuple[VmType, ...]
    assignment: str


class FleetFile(NamedTuple):
    """What a fleet file describes: the hosts and the VM sizes."""

    fleet: Fleet
    vm_types: VmTypes


class ReplayPolicy(NamedTuple):
    """A consolidation policy: ``allocation``, and for the migrating ones a VM selection and parameter.

    CloudSim's names: NPA keeps every host at full power; DVFS places VMs once (first fit) and
    lets hosts draw power by load, with no migrations. The migrating policies pair an overload
    detector (``thr`` with its threshold, ``iqr``, ``mad``, ``lr``, ``lrr`` with their safety
    parameter) with a VM selection (``mmt``, ``mu``, ``rs``, ``mc``), e.g. ``("lr", "mmt", 1.2)``.

    stackmeter's own additions: the selection ``fit``; ``evacuation_cap``, the load (a fraction
    of capacity, VMs placed earlier in the step counted) a host may reach when it takes VMs from
    an evacuated one (``None`` is CloudSim's rule, no cap); and ``memory_aware``: a VM is created
    on or migrated to a host only while the memory its VMs use (each VM's
    :data:`MEMORY_DEMAND_QUANTILE` of its memory in use) stays within :data:`MEMORY_HEADROOM` of
    the host's RAM.
    """

    allocation: str
    selection: str | None = None
    parameter: float | None = None
    evacuation_cap: float | None = None
    memory_aware: bool = False

    @property
    def label(self) -> str:
        """The policy as one word, e.g. ``dvfs``, ``lr-mmt-1.2`` or ``lr-fit-1.1-cap0.75-mem``."""
        parts = [self.allocation]
        if self.selection is not None:
            parts.append(self.selection)
        if self.parameter is not None:
            parts.append(f"{self.parameter:g}")
        if self.evacuation_cap is not None:
            parts.append(f"cap{self.evacuation_cap:g}")
        if self.memory_aware:
            parts.append("mem")
        return "-".join(parts)


# A memory-aware policy counts each VM's memory as this quantile of its memory in use, and keeps
# a host's sum within this share of its RAM (DESIGN's memory overload threshold).
MEMORY_DEMAND_QUANTILE = 0.95
MEMORY_HEADROOM = 0.9


class SemanticsProfile(NamedTuple):
    """The switches that decide what a replay simulates; every report prints them.

    - ``step_demand``: a VM's utilization at a decision step ``k`` (time ``k·interval +
      step_offset_s``): :data:`STEP_SAMPLE` is sample ``k`` itself, :data:`STEP_INTERPOLATE` the line from
      sample ``k`` to ``k + 1`` at that time (the last sample is held).
    - ``vanish_at_zero``: a VM whose requested MIPS is exactly 0 at an update leaves the
      simulation for good (CloudSim's ``getCompletedVms``).
    - ``step_offset_s``: decision steps fall this long after each sample (CloudSim: 0.1 s).
    - ``memory_limits_placement``: a migration needs RAM left on its target for the VM (the VMs'
      RAM summed, against the host's RAM × its allocation ratio); CloudSim checks RAM only when
      it creates the VMs.
    - ``host_on_while_holding_vms``: a host that holds VMs is on, drawing at least its idle
      watts, even while they all request 0 MIPS; CloudSim switches off any host without load.
    - ``wake_costs_energy``: each time a host switches on after being off it costs its host
      type's ``wake_s`` at full-load watts (``host_wakes`` counts them); CloudSim wakes for free.
    - ``history_counts_all_cores``: a host's utilization history (what IQR, MAD, LR and LRR
      read) counts every core of a VM; CloudSim's counts one core of each (``Vm.getMips()`` is
      the MIPS of one core), which makes no difference for single-core VMs such as the paper's.

    Decision steps run from ``k = 1`` to the last sample but one; VMs are created at ``t = 0``
    at their nominal MIPS; the energy of ``[0, t_1]`` is 0 because no host has a load before
    the first step (CloudSim), except under NPA, which counts every host from ``t = 0``.
    """

    name: str
    step_demand: str
    vanish_at_zero: bool
    step_offset_s: float
    description: str
    memory_limits_placement: bool = False
    history_counts_all_cores: bool = False
    host_on_while_holding_vms: bool = False
    wake_costs_energy: bool = False


SEMANTICS_TABLE: tuple[SemanticsProfile, ...] = (
    SemanticsProfile(
        "cloudsim-3.0-paper",
        STEP_SAMPLE,
        True,
        0.1,
        "CloudSim 3.0 as its steps must have run for the paper's Table V: the 300 s sample "
        "itself at each decision step; a VM vanishes at its first zero",
    ),
    SemanticsProfile(
        "cloudsim-3.0",
        STEP_INTERPOLATE,
        True,
        0.1,
        "CloudSim 3.0 as released: demand interpolated between samples at every step; "
        "a VM vanishes when it reaches zero (two zero samples in a row)",
    ),
    SemanticsProfile(
        "stackmeter",
        STEP_SAMPLE,
        False,
        0.1,
        "what an operator's cloud does, where CloudSim 3.0 differs: a VM idle for a while is still "
        "there (it keeps its RAM and its host stays on), a VM migrates only to a host with RAM left "
        "for it, a host's utilization history counts every core of its VMs, and waking a host costs "
        "its wake time at full power; otherwise as cloudsim-3.0-paper",
        True,
        True,
        True,
        True,
    ),
)
SEMANTICS_PROFILES: MappingProxyType[str, SemanticsProfile] = MappingProxyType(
    {profile.name: profile for profile in SEMANTICS_TABLE}
)
DEFAULT_SEMANTICS = "cloudsim-3.0-paper"


class ReplayResult(NamedTuple):
    """What a policy did over a replay: per decision step, and in total.

    Step arrays have one entry per decision step simulated (CloudSim processes no step after one
    at which no VM had demand left, so a run may be shorter than the trace):

    - ``step_time_s``: the step's time, seconds since the first sample (300.1, 600.1, ...);
    - ``step_hosts_active``: hosts drawing power after the step's allocation (CloudSim's
      "active": some MIPS allocated; under NPA every host);
    - ``step_hosts_overloaded``: active hosts whose allocated MIPS fall short of the MIPS their
      VMs request (the condition SLATAH times);
    - ``step_energy_kwh``: energy of the interval that ends at the step (with migrations, of the
      intervals since the previous step, migration ends included; any energy after the last step,
      while its migrations finish, counts at the last step, so the steps add up to the total);
    - ``step_vms_alive``: VMs still simulated after the step (vanished ones are gone).

    Totals: ``energy_kwh``; ``migrations``; ``slatah`` (share of active host time with
    allocated < requested MIPS, pooled over hosts as CloudSim's code computes it, a fraction);
    ``pdm`` (MIPS requested but not allocated because of migrations ÷ MIPS requested, pooled,
    a fraction); ``slav`` = slatah × pdm; ``esv`` = energy_kwh × slav; ``host_shutdowns``
    (active-to-idle transitions, every host counted as active before the first step, as
    CloudSim's ``Helper`` counts them); ``mean_time_before_host_shutdown_s`` (NaN without
    shutdowns); ``vms_removed`` (VMs that vanished). SLATAH and PDM are NaN when nothing was
    active or requested.

    With the VMs' memory in use replayed too: ``memory_overload``, the share of active host
    time during which the memory the host's VMs use (a VM moving in counted on both hosts)
    exceeds the host's RAM, pooled over hosts as SLATAH is; and ``step_hosts_memory_overloaded``,
    the active hosts so overloaded after each step. Without memory, NaN and None.

    ``host_wakes``: how often a host switched on after being off (counted under a profile with
    ``wake_costs_energy``, whose energy includes what waking cost; 0 otherwise).
    """

    policy: str
    semantics: str
    hosts: int
    vms: int
    step_time_s: np.ndarray
    step_hosts_active: np.ndarray
    step_hosts_overloaded: np.ndarray
    step_energy_kwh: np.ndarray
    step_vms_alive: np.ndarray
    energy_kwh: float
    migrations: int
    slatah: float
    pdm: float
    slav: float
    esv: float
    host_shutdowns: int
    mean_time_before_host_shutdown_s: float
    vms_removed: int
    memory_overload: float = float("nan")
    step_hosts_memory_overloaded: np.ndarray | None = None
    host_wakes: int = 0
