"""The checked, expanded inputs every policy runner of the replay starts from."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from stackmeter.analysis.replay.inventory import Hosts, Vms
from stackmeter.models.replay import ReplayPolicy, SemanticsProfile

JOULES_PER_KWH = 3.6e6


class MemoryLimit(NamedTuple):
    """What a memory-aware policy counts: each VM's memory demand and what each host may hold (MB)."""

    vm_mb: np.ndarray
    host_mb: np.ndarray


class ReplayInputs(NamedTuple):
    """Everything a policy runner needs, checked and expanded into arrays.

    ``utilization`` is ``VMs × samples`` (fractions, rows in the order VMs are created);
    ``step_utilization`` is each VM's utilization at each decision step under ``profile``;
    ``memory_mb`` each VM's memory in use at each sample (MB), or None when not replayed;
    ``memory_limit`` what a memory-aware policy counts, None for the others.
    """

    utilization: np.ndarray
    interval_s: float
    hosts: Hosts
    vms: Vms
    profile: SemanticsProfile
    policy: ReplayPolicy
    step_time_s: np.ndarray
    step_utilization: np.ndarray
    memory_mb: np.ndarray | None = None
    memory_limit: MemoryLimit | None = None
