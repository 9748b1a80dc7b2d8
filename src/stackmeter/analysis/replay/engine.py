"""The replay: a policy stepped over VM utilization on a fleet, with CloudSim's semantics."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import NamedTuple

import numpy as np

from stackmeter.analysis.replay.demand import simulated_steps, step_times_s, step_utilization, vanish_steps
from stackmeter.analysis.replay.detectors import DETECTORS
from stackmeter.analysis.replay.inputs import JOULES_PER_KWH, MemoryLimit, ReplayInputs
from stackmeter.analysis.replay.inventory import Hosts, Vms, expand_hosts, expand_vms
from stackmeter.analysis.replay.metrics import host_shutdowns, memory_overload, pdm, slatah
from stackmeter.analysis.replay.migration import replay_migrating
from stackmeter.analysis.replay.placement import place_first_fit
from stackmeter.analysis.replay.power import host_load, interval_energy_j, power_w
from stackmeter.analysis.replay.scheduler import allocate_mips
from stackmeter.analysis.replay.selection import DETECTOR_AWARE_SELECTIONS, SELECTORS
from stackmeter.errors import ConfigError
from stackmeter.models.replay import (
    DEFAULT_SEMANTICS,
    MEMORY_DEMAND_QUANTILE,
    MEMORY_HEADROOM,
    SEMANTICS_PROFILES,
    Fleet,
    ReplayPolicy,
    ReplayResult,
    SemanticsProfile,
    VmTypes,
)

# A policy runner turns checked inputs into a result; POLICY_RUNNERS (end of module) maps the
# allocation names to them. NPA and DVFS solve every (host, step) pair at once below; the
# migrating policies (migration.py) step through CloudSim's event grid, with the detectors of
# detectors.py, the VM selections of selection.py and PABFD, and integrate energy, SLATAH and
# PDM on that grid.
PolicyRunner = Callable[[ReplayInputs], ReplayResult]


def replay(
    utilization: np.ndarray,
    fleet: Fleet,
    vm_types: VmTypes,
    policy: ReplayPolicy,
    semantics: str = DEFAULT_SEMANTICS,
    interval_s: float = 300.0,
    memory_mb: np.ndarray | None = None,
    memory_demand_mb: np.ndarray | None = None,
) -> ReplayResult:
    """Replay ``policy`` over VM utilization on ``fleet`` and return what it did per step and in total.

    :param utilization: ``VMs × samples`` CPU utilization of each VM, fractions of its nominal
        MIPS (may exceed 1), one row per VM in the order the VMs are created and typed (CloudSim:
        trace files sorted by name), one column per sample ``interval_s`` apart; no gaps
    :param fleet: the hosts, in id order as ``fleet.host_order`` gives them
    :param vm_types: the VM sizes and how rows get them
    :param policy: ``ReplayPolicy("npa")``, ``ReplayPolicy("dvfs")`` or a migrating policy such as
        ``ReplayPolicy("lr", "mmt", 1.2)`` (see :func:`parse_policy`)
    :param semantics: a name of :data:`~stackmeter.models.SEMANTICS_PROFILES`
    :param memory_mb: ``VMs × samples`` memory each VM uses (MB), the same shape as
        ``utilization``; the result then says how often hosts ran out of memory
        (``memory_overload``). A sample holds until the next one.
    :param memory_demand_mb: each VM's memory demand for a memory-aware policy (``…-mem``);
        by default the :data:`~stackmeter.models.replay.MEMORY_DEMAND_QUANTILE` of its row of
        ``memory_mb`` (in-sample: pass one measured on earlier history to judge a policy
        fairly), or its RAM without ``memory_mb``
    :raises ConfigError: for an unknown policy or profile, a matrix that is not finite and ≥ 0,
        an unusable fleet, or a VM that fits on no host at creation
    """
    profile = _profile(semantics)
    runner = _runner(policy)
    matrix = _checked_utilization(utilization)
    if not (math.isfinite(interval_s) and interval_s > 0):
        raise ConfigError(
            f"the sample interval must be a positive number of seconds, not {interval_s}", where="interval_s"
        )
    memory = None if memory_mb is None else _checked_matrix(memory_mb, "memory_mb", matrix.shape)
    hosts = expand_hosts(fleet)
    vms = expand_vms(vm_types, matrix.shape[0])
    inputs = ReplayInputs(
        utilization=matrix,
        interval_s=interval_s,
        hosts=hosts,
        vms=vms,
        profile=profile,
        policy=policy,
        step_time_s=step_times_s(matrix.shape[1], interval_s, profile),
        step_utilization=step_utilization(matrix, interval_s, profile),
        memory_mb=memory,
        memory_limit=_memory_limit(policy, hosts, vms, memory, memory_demand_mb),
    )
    return runner(inputs)


def _memory_limit(
    policy: ReplayPolicy, hosts: Hosts, vms: Vms, memory_mb: np.ndarray | None, demand_mb: np.ndarray | None
) -> MemoryLimit | None:
    """What a memory-aware policy counts: each VM's demand, each host's RAM × the headroom."""
    if not policy.memory_aware:
        return None
    if demand_mb is not None:
        demand = _checked_matrix(np.reshape(demand_mb, (1, -1)), "memory_demand_mb", (1, len(vms.pes)))[0]
    elif memory_mb is not None:
        demand = np.quantile(memory_mb, MEMORY_DEMAND_QUANTILE, axis=1)
    else:
        demand = vms.ram_mb.astype(np.float64)
    return MemoryLimit(np.ascontiguousarray(demand), np.ascontiguousarray(hosts.ram_mb * MEMORY_HEADROOM))


def parse_policy(text: str) -> ReplayPolicy:
    """Return the policy a word names: ``npa``, ``dvfs``, or detector-selection-parameter[-capC][-mem].

    Detectors: ``thr`` (parameter: the threshold), ``iqr``, ``mad``, ``lr``, ``lrr`` (the safety
    parameter); selections: CloudSim's ``mmt``, ``mu``, ``rs``, ``mc`` and stackmeter's ``fit``.
    ``-capC`` (stackmeter's, 0 < C ≤ 1) caps the load of the hosts that take an evacuated host's
    VMs, e.g. ``lr-fit-1.1-cap0.75``; ``-mem`` (stackmeter's) makes it memory-aware (see
    :class:`~stackmeter.models.replay.ReplayPolicy`), e.g. ``lr-fit-1.1-cap0.75-mem``.

    :raises ConfigError: for a policy this stackmeter does not replay, listing those it does
    """
    allocation, *rest = text.strip().lower().split("-")
    if allocation in STATIC_RUNNERS and not rest:
        return ReplayPolicy(allocation)
    memory_aware = len(rest) > 2 and rest[-1] == "mem"
    if memory_aware:
        rest = rest[:-1]
    if allocation in DETECTORS and len(rest) in (2, 3) and rest[0] in _SELECTIONS:
        parameter = _number(rest[1])
        cap = _number(rest[2].removeprefix("cap")) if len(rest) == 3 and rest[2].startswith("cap") else None
        if (
            math.isfinite(parameter)
            and parameter >= 0
            and (len(rest) == 2 or (cap is not None and 0 < cap <= 1))
        ):
            return ReplayPolicy(allocation, rest[0], parameter, cap, memory_aware)
    raise ConfigError(
        f"unknown policy {text!r}: use {_choices(STATIC_RUNNERS)}, or one of {_choices(DETECTORS)}, "
        f"a VM selection ({_choices(_SELECTIONS)}) and a parameter ≥ 0, e.g. lr-mmt-1.2, and optionally "
        "an evacuation cap 0 < C ≤ 1 and -mem (memory-aware), e.g. lr-fit-1.1-cap0.75-mem",
        where="policy",
    )


def _number(text: str) -> float:
    """The float a policy part spells, NaN when it spells none."""
    try:
        return float(text)
    except ValueError:
        return math.nan


def _profile(semantics: str) -> SemanticsProfile:
    """The semantics profile of that name, or ConfigError listing the names."""
    if semantics not in SEMANTICS_PROFILES:
        raise ConfigError(
            f"unknown semantics {semantics!r}: use {_choices(SEMANTICS_PROFILES)}", where="semantics"
        )
    return SEMANTICS_PROFILES[semantics]


def _runner(policy: ReplayPolicy) -> PolicyRunner:
    """The runner of a policy, or ConfigError listing the policies."""
    if policy.allocation in STATIC_RUNNERS:
        if policy.selection is not None or policy.parameter is not None or policy.memory_aware:
            raise ConfigError(
                f"{policy.allocation} takes no VM selection, parameter or memory awareness", where="policy"
            )
        return STATIC_RUNNERS[policy.allocation]
    if policy.allocation not in DETECTORS:
        raise ConfigError(
            f"unknown policy {policy.label!r}: use {_choices([*STATIC_RUNNERS, *DETECTORS])}", where="policy"
        )
    if policy.selection not in _SELECTIONS or policy.parameter is None:
        raise ConfigError(
            f"{policy.allocation} needs a VM selection ({_choices(_SELECTIONS)}) and a parameter, "
            f"e.g. {policy.allocation}-mmt-1.2",
            where="policy",
        )
    return replay_migrating


_SELECTIONS = frozenset(SELECTORS) | DETECTOR_AWARE_SELECTIONS


def _choices(names: Iterable[str]) -> str:
    """``a, b or c`` of the keys of a table."""
    listed = sorted(names)
    return listed[0] if len(listed) == 1 else ", ".join(listed[:-1]) + " or " + listed[-1]


def _checked_matrix(values: np.ndarray, name: str, shape: tuple[int, ...]) -> np.ndarray:
    """A matrix of ``shape`` as float64, finite and ≥ 0, or ConfigError saying what is wrong and where."""
    matrix = np.asarray(values, dtype=np.float64)
    if matrix.shape != shape:
        raise ConfigError(
            f"{name} must have the shape {shape} of the utilization, not {matrix.shape}", where=name
        )
    bad = ~np.isfinite(matrix) | (matrix < 0)
    if bad.any():
        row, column = (int(i) for i in np.argwhere(bad)[0])
        first = f"VM {column}" if name == "memory_demand_mb" else f"VM {row}, sample {column}"
        raise ConfigError(
            f"{name} has {int(bad.sum())} values that are missing, infinite or negative "
            f"(first: {first}: {matrix[row, column]}); fill or drop them before replaying",
            where=name,
        )
    return matrix


def _checked_utilization(utilization: np.ndarray) -> np.ndarray:
    """The matrix as float64, or ConfigError saying what is wrong with it."""
    matrix = np.asarray(utilization, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] < 1 or matrix.shape[1] < 2:
        raise ConfigError(
            "utilization must be VMs × samples with at least one VM and two samples, "
            f"not shape {matrix.shape}",
            where="utilization",
        )
    return _checked_matrix(matrix, "utilization", matrix.shape)


# -- policies that never migrate: NPA and DVFS ----------------------------------------------------


class _StaticState(NamedTuple):
    """Hosts × steps state of a replay whose placement never changes."""

    steps: int
    vanish: np.ndarray
    allocated_mips: np.ndarray
    requested_mips: np.ndarray
    load: np.ndarray
    vm_requested_mips: np.ndarray
    vm_allocated_mips: np.ndarray
    vm_held_s: np.ndarray
    # Memory the hosts' VMs use at each step (MB), None when not replayed.
    memory_used_mb: np.ndarray | None
    # Whether each host holds a VM at each step, and at creation.
    holding: np.ndarray
    created: np.ndarray


def _static_state(inputs: ReplayInputs) -> _StaticState:
    """Place the VMs once by first fit and allocate every (host, step) pair in one call."""
    hosts, vms = inputs.hosts, inputs.vms
    host_of_vm = place_first_fit(hosts, vms)
    requested_per_pe = inputs.step_utilization * vms.mips_per_pe[:, None]
    vanish = vanish_steps(requested_per_pe, inputs.profile)
    steps = simulated_steps(vanish, requested_per_pe.shape[1], inputs.profile)
    # A VM takes part in the steps up to the one at which it vanishes (where it requests 0).
    present = np.arange(steps) <= vanish[:, None]
    vm, step = np.nonzero(present)
    # Entries run VM by VM, so within a host they add up in creation order, as CloudSim's VM list.
    slot = host_of_vm[vm] * steps + step
    allocation = allocate_mips(
        slot,
        requested_per_pe[vm, step],
        vms.pes[vm],
        np.repeat(hosts.pe_mips, steps),
        np.repeat(hosts.capacity_mips, steps),
    )
    allocated = allocation.slot_allocated_mips.reshape(-1, steps)
    # A VM's history entry holds until its next one: none after the step it vanishes or the last.
    dt_s = np.diff(inputs.step_time_s[:steps], append=inputs.step_time_s[steps - 1])
    held_s = np.where(step < vanish[vm], dt_s[step], 0.0)
    memory_used_mb = None
    if inputs.memory_mb is not None:
        # Step k sees the memory sample it falls in (k + 1), held since the sample was taken.
        sample = np.minimum(
            (inputs.step_time_s[step] // inputs.interval_s).astype(np.intp), inputs.memory_mb.shape[1] - 1
        )
        memory_used_mb = np.bincount(
            slot, weights=inputs.memory_mb[vm, sample], minlength=len(hosts.group) * steps
        ).reshape(-1, steps)
    return _StaticState(
        steps=steps,
        vanish=vanish,
        allocated_mips=allocated,
        requested_mips=allocation.slot_requested_mips.reshape(-1, steps),
        load=host_load(allocated, hosts.capacity_mips[:, None]),
        vm_requested_mips=requested_per_pe[vm, step] * vms.pes[vm],
        vm_allocated_mips=allocation.vm_allocated_mips,
        vm_held_s=held_s,
        memory_used_mb=memory_used_mb,
        holding=(np.bincount(slot, minlength=len(hosts.group) * steps) > 0).reshape(-1, steps),
        created=np.bincount(host_of_vm, minlength=len(hosts.group)) > 0,
    )


def _interval_lengths_s(time_s: np.ndarray) -> np.ndarray:
    """Lengths of the intervals that end at each step, the first from time 0."""
    return np.diff(time_s, prepend=0.0)


def _replay_dvfs(inputs: ReplayInputs) -> ReplayResult:
    """DVFS: first fit at creation, no migrations, each host drawing power by its load; idle hosts off."""
    state = _static_state(inputs)
    hosts = inputs.hosts
    time_s = inputs.step_time_s[: state.steps]
    watts = power_w(hosts.power_table_w, hosts.group[:, None], state.load)
    # No host has a load before the first step (CloudSim updates hosts first at t_1), so the
    # interval from 0 to t_1 costs nothing.
    active = _on(inputs, state)
    load_before = np.concatenate([np.zeros((len(hosts.group), 1)), state.load[:, :-1]], axis=1)
    on_before = np.concatenate([np.zeros((len(hosts.group), 1), dtype=bool), active[:, :-1]], axis=1)
    watts_before = np.concatenate([watts[:, :1], watts[:, :-1]], axis=1)
    energy_j = interval_energy_j(load_before, watts_before, watts, _interval_lengths_s(time_s), on_before)
    wakes = 0
    if inputs.profile.wake_costs_energy:
        # A host on at creation (it holds a VM) is not woken at the first step.
        was_on = np.concatenate([state.created[:, None], active[:, :-1]], axis=1)
        woke = active & ~was_on
        energy_j = energy_j + woke * hosts.wake_j[:, None]
        wakes = int(woke.sum())
    step_energy_kwh = energy_j.sum(axis=0) / JOULES_PER_KWH
    return _result(inputs, state, time_s, active, step_energy_kwh)._replace(host_wakes=wakes)


def _on(inputs: ReplayInputs, state: _StaticState) -> np.ndarray:
    """Hosts × steps: on when some MIPS are allocated, or (stackmeter's rule) while holding a VM."""
    active = state.allocated_mips > 0
    return active | state.holding if inputs.profile.host_on_while_holding_vms else active


def _replay_npa(inputs: ReplayInputs) -> ReplayResult:
    """NPA: the DVFS placement, but every host on at full power from time 0 to the last step.

    CloudSim's ``PowerDatacenterNonPowerAware`` charges full power for every interval, the first
    from 0 to t_1 included (2410.80 kWh for the paper's 800 hosts over 86 100.1 s). No host ever
    switches off, so none is idle and none shuts down.
    """
    state = _static_state(inputs)
    hosts = inputs.hosts
    time_s = inputs.step_time_s[: state.steps]
    full_w = float(hosts.power_table_w[hosts.group, -1].sum())
    step_energy_kwh = full_w * _interval_lengths_s(time_s) / JOULES_PER_KWH
    active = np.ones_like(state.allocated_mips, dtype=bool)
    return _result(inputs, state, time_s, active, step_energy_kwh)


def _result(
    inputs: ReplayInputs,
    state: _StaticState,
    time_s: np.ndarray,
    active: np.ndarray,
    step_energy_kwh: np.ndarray,
) -> ReplayResult:
    """Totals and step arrays of a replay without migrations."""
    allocated_active = _on(inputs, state)
    short = allocated_active & (state.allocated_mips < state.requested_mips)
    sla_time = slatah(allocated_active, state.allocated_mips, state.requested_mips, time_s)
    degradation = pdm(
        state.vm_requested_mips,
        state.vm_allocated_mips,
        np.zeros(len(state.vm_held_s), dtype=bool),
        state.vm_held_s,
    )
    shutdowns, on_before_shutdown_s = host_shutdowns(active, time_s)
    energy_kwh = float(step_energy_kwh.sum())
    slav = sla_time * degradation
    memory_share, memory_short = float("nan"), None
    if state.memory_used_mb is not None:
        out_of_memory = active & (state.memory_used_mb > inputs.hosts.ram_mb[:, None])
        memory_share = memory_overload(active, out_of_memory, time_s)
        memory_short = out_of_memory.sum(axis=0)
    return ReplayResult(
        policy=inputs.policy.label,
        semantics=inputs.profile.name,
        hosts=len(inputs.hosts.group),
        vms=inputs.utilization.shape[0],
        step_time_s=time_s,
        step_hosts_active=active.sum(axis=0),
        step_hosts_overloaded=short.sum(axis=0),
        step_energy_kwh=step_energy_kwh,
        step_vms_alive=(state.vanish[:, None] > np.arange(state.steps)).sum(axis=0),
        energy_kwh=energy_kwh,
        migrations=0,
        slatah=sla_time,
        pdm=degradation,
        slav=slav,
        esv=energy_kwh * slav,
        host_shutdowns=shutdowns,
        mean_time_before_host_shutdown_s=on_before_shutdown_s,
        vms_removed=int((state.vanish < state.steps).sum()),
        memory_overload=memory_share,
        step_hosts_memory_overloaded=memory_short,
    )


STATIC_RUNNERS: dict[str, PolicyRunner] = {"dvfs": _replay_dvfs, "npa": _replay_npa}
"""Runners of the policies that never migrate."""

POLICY_RUNNERS: dict[str, PolicyRunner] = {
    **STATIC_RUNNERS,
    **dict.fromkeys(DETECTORS, replay_migrating),
}
"""The runner of each allocation policy name (the migrating ones need a selection and parameter)."""
