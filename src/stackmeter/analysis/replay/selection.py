"""VM selection of CloudSim 3.0: which VM leaves an overloaded host next (MMT, MU, RS)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from stackmeter.errors import ConfigError

# (candidate VMs in host-list order, RAM MB of every VM, utilization of every VM, generator) → one of them
Selector = Callable[[Sequence[int], np.ndarray, np.ndarray, np.random.Generator], int]


def minimum_migration_time(
    candidates: Sequence[int], ram_mb: np.ndarray, utilization: np.ndarray, rng: np.random.Generator
) -> int:
    """MMT: the VM with the least RAM (the quickest to migrate), the first in the host's list on ties."""
    best, best_ram = candidates[0], float(ram_mb[candidates[0]])
    for vm in candidates[1:]:
        if ram_mb[vm] < best_ram:
            best, best_ram = vm, float(ram_mb[vm])
    return best


def minimum_utilization(
    candidates: Sequence[int], ram_mb: np.ndarray, utilization: np.ndarray, rng: np.random.Generator
) -> int:
    """MU: the VM with the lowest CPU utilization now, the first in the host's list on ties."""
    best, best_u = candidates[0], float(utilization[candidates[0]])
    for vm in candidates[1:]:
        if utilization[vm] < best_u:
            best, best_u = vm, float(utilization[vm])
    return best


def random_selection(
    candidates: Sequence[int], ram_mb: np.ndarray, utilization: np.ndarray, rng: np.random.Generator
) -> int:
    """RS: a VM drawn uniformly. CloudSim draws from an unseeded ``java.util.Random``; the replay
    draws from a seeded generator, so its runs repeat (and cannot match CloudSim's draw for draw)."""
    return candidates[int(rng.integers(len(candidates)))]


SELECTORS: dict[str, Selector] = {
    "mmt": minimum_migration_time,
    "mu": minimum_utilization,
    "rs": random_selection,
}
"""VM selection policy of each CloudSim name."""


def selector(name: str) -> Selector:
    """The selection policy of a name, or ConfigError listing them."""
    if name not in SELECTORS:
        raise ConfigError(
            f"unknown VM selection {name!r}: use {', '.join(sorted(SELECTORS))}", where="policy"
        )
    return SELECTORS[name]
