"""What a replay over a store read: the VMs, their windows and the gaps filled, and each policy's result."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from stackmeter.models.replay import ReplayResult

# The demand a replay steps through: each VM's mean CPU utilization per 5-minute window (the
# PlanetLab traces' own interval, and CloudSim's decision step).
REPLAY_TIMESCALE = "5m"
REPLAY_INTERVAL_S = 300.0


class ReplayDemand(NamedTuple):
    """The ``VMs × windows`` matrix a replay steps through, read from a store.

    ``entities`` name the rows (sorted by name, as CloudSim sorts its trace files, which decides
    each VM's type); ``first_window`` is the first column's start, one column per
    :data:`REPLAY_INTERVAL_S`. A window without a sample of its VM is a gap: ``gaps_filled``
    counts those between a VM's first and last sample, which hold the VM's previous value, and
    ``before_first`` those before its first sample and after its last, which are 0 (no demand).
    ``memory_mb`` is the mean memory each VM uses per window (MB, gaps filled alike; 0 for a VM
    without memory samples), None when none has any; ``memory_vms`` how many have some.
    """

    entities: tuple[str, ...]
    first_window: np.datetime64 | None
    utilization: np.ndarray
    gaps_filled: int
    before_first: int
    memory_mb: np.ndarray | None = None
    memory_vms: int = 0


class ReplayReport(NamedTuple):
    """Policies replayed on the same demand and fleet: ``results`` one per policy, in the order asked."""

    fleet: str
    semantics: str
    vms: int
    windows: int
    first_window: np.datetime64 | None
    gaps_filled: int
    before_first: int
    results: tuple[ReplayResult, ...]
    # VMs whose memory in use was replayed (0: memory not replayed, no memory_overload).
    memory_vms: int = 0
