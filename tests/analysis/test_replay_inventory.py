"""Host ids and VM types: the order hosts get ids in, and how VMs are given types."""

from __future__ import annotations

import numpy as np
import pytest

from stackmeter.analysis.replay.inventory import assign_vm_types, expand_hosts, host_groups_in_id_order
from stackmeter.errors import ConfigError
from stackmeter.models import (
    HOSTS_GROUPED,
    HOSTS_INTERLEAVED,
    VMS_CONTIGUOUS,
    VMS_ROUND_ROBIN,
    Fleet,
    HostGroup,
    HostType,
    PowerCurve,
    VmType,
    VmTypes,
)

CURVE = PowerCurve(tuple(float(w) for w in range(100, 111)))


def host_type(name: str) -> HostType:
    return HostType(name, 2, 1000, 4096, 1000, CURVE)


def vm_types(kinds: int, assignment: str) -> VmTypes:
    return VmTypes(tuple(VmType(f"t{i}", 500, 1, 613, 100) for i in range(kinds)), assignment)


@pytest.mark.parametrize(
    ("counts", "order", "expected"),
    [
        ((2, 2), HOSTS_INTERLEAVED, [0, 1, 0, 1]),  # CloudSim: host i has type i mod 2
        ((3, 1), HOSTS_INTERLEAVED, [0, 1, 0, 0]),
        ((1, 2, 1), HOSTS_INTERLEAVED, [0, 1, 2, 1]),
        ((3, 1), HOSTS_GROUPED, [0, 0, 0, 1]),
    ],
)
def test_host_ids(counts, order, expected):
    fleet = Fleet("f", tuple(HostGroup(host_type(f"h{i}"), n) for i, n in enumerate(counts)), order)
    assert host_groups_in_id_order(fleet).tolist() == expected


@pytest.mark.parametrize(
    ("vms", "assignment", "expected"),
    [
        (8, VMS_CONTIGUOUS, [0, 0, 1, 1, 2, 2, 3, 3]),
        (5, VMS_CONTIGUOUS, [0, 0, 1, 1, 2]),  # ⌈5/4⌉ = 2: the last type is unused
        (5, VMS_ROUND_ROBIN, [0, 1, 2, 3, 0]),
    ],
)
def test_vm_types(vms, assignment, expected):
    assert assign_vm_types(vm_types(4, assignment), vms).tolist() == expected


def test_contiguous_quarters_of_a_planetlab_day():
    # 1052 VMs (20110303): ⌈1052/4⌉ = 263 per quarter.
    assert np.bincount(assign_vm_types(vm_types(4, VMS_CONTIGUOUS), 1052)).tolist() == [263] * 4


def test_unusable_fleets_are_refused():
    with pytest.raises(ConfigError, match="no hosts"):
        expand_hosts(Fleet("empty", (), HOSTS_GROUPED))
    short_curve = HostType("h", 2, 1000, 4096, 1000, PowerCurve((1.0, 2.0)))
    with pytest.raises(ConfigError, match="power curve needs 11"):
        expand_hosts(Fleet("f", (HostGroup(short_curve, 1),), HOSTS_GROUPED))
    with pytest.raises(ConfigError, match="host order"):
        expand_hosts(Fleet("f", (HostGroup(host_type("h"), 1),), "shuffled"))
