"""The checked, expanded inputs every policy runner of the replay starts from."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from stackmeter.analysis.replay.inventory import Hosts, Vms
from stackmeter.models.replay import ReplayPolicy, SemanticsProfile

JOULES_PER_KWH = 3.6e6


class ReplayInputs(NamedTuple):
    """Everything a policy runner needs, checked and expanded into arrays.

    ``utilization`` is ``VMs × samples`` (fractions, rows in the order VMs are created);
    ``step_utilization`` is each VM's utilization at each decision step under ``profile``.
    """

    utilization: np.ndarray
    interval_s: float
    hosts: Hosts
    vms: Vms
    profile: SemanticsProfile
    policy: ReplayPolicy
    step_time_s: np.ndarray
    step_utilization: np.ndarray
