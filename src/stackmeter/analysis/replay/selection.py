"""VM selection of CloudSim 3.0: which VM leaves an overloaded host next (MMT, MU, RS, MC)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from stackmeter.errors import ConfigError


class Selector(Protocol):
    """Candidate VMs in host-list order, RAM MB and utilization of every VM, a generator and each
    VM's utilization history (VMs × ≤ 30 fractions of its MIPS, newest first; MC only) → one of them."""

    def __call__(
        self,
        candidates: Sequence[int],
        ram_mb: np.ndarray,
        utilization: np.ndarray,
        rng: np.random.Generator,
        history: np.ndarray | None = None,
    ) -> int: ...


def minimum_migration_time(
    candidates: Sequence[int],
    ram_mb: np.ndarray,
    utilization: np.ndarray,
    rng: np.random.Generator,
    history: np.ndarray | None = None,
) -> int:
    """MMT: the VM with the least RAM (the quickest to migrate), the first in the host's list on ties."""
    best, best_ram = candidates[0], float(ram_mb[candidates[0]])
    for vm in candidates[1:]:
        if ram_mb[vm] < best_ram:
            best, best_ram = vm, float(ram_mb[vm])
    return best


def minimum_utilization(
    candidates: Sequence[int],
    ram_mb: np.ndarray,
    utilization: np.ndarray,
    rng: np.random.Generator,
    history: np.ndarray | None = None,
) -> int:
    """MU: the VM with the lowest CPU utilization now, the first in the host's list on ties."""
    best, best_u = candidates[0], float(utilization[candidates[0]])
    for vm in candidates[1:]:
        if utilization[vm] < best_u:
            best, best_u = vm, float(utilization[vm])
    return best


def random_selection(
    candidates: Sequence[int],
    ram_mb: np.ndarray,
    utilization: np.ndarray,
    rng: np.random.Generator,
    history: np.ndarray | None = None,
) -> int:
    """RS: a VM drawn uniformly. CloudSim draws from an unseeded ``java.util.Random``; the replay
    draws from a seeded generator, so its runs repeat (and cannot match CloudSim's draw for draw)."""
    return candidates[int(rng.integers(len(candidates)))]


def maximum_correlation(
    candidates: Sequence[int],
    ram_mb: np.ndarray,
    utilization: np.ndarray,
    rng: np.random.Generator,
    history: np.ndarray | None = None,
) -> int:
    """MC: the VM whose history the other candidates' histories explain best (the largest R² of
    the least squares of its history on theirs, with an intercept), the first listed on ties.

    As ``PowerVmSelectionPolicyMaximumCorrelation``: the candidates' histories over their shortest
    length m; MMT instead when the regressions have no degrees of freedom (m ≤ number of
    candidates); an R² that is not above ``Double.MIN_VALUE`` (0, negative, NaN from a singular
    system or a constant history) never wins, and when none wins the first candidate is taken.
    """
    if history is None:
        raise ValueError("maximum_correlation needs each VM's utilization history")
    data = history[list(candidates)]
    if data.shape[1] - len(candidates) < 1:
        return minimum_migration_time(candidates, ram_mb, utilization, rng)
    best, best_r2 = 0, _DOUBLE_MIN_VALUE
    for i, r2 in enumerate(correlation_coefficients(data).tolist()):
        if r2 > best_r2:
            best, best_r2 = i, r2
    return candidates[best]


# Java's Double.MIN_VALUE: the smallest positive double, where CloudSim's maximum search starts.
_DOUBLE_MIN_VALUE = 5e-324


def correlation_coefficients(data: np.ndarray) -> np.ndarray:
    """R² of each row of ``data`` (VMs × samples) regressed, with an intercept, on the other rows.

    Computed as CloudSim's ``Regression.linear`` stand-in does, operation for operation, so the
    float results (NaN and infinities of singular systems included) are CloudSim's to the bit:
    normal equations summed sample by sample, Gauss-Jordan with partial pivoting, R² = 1 − SSR/SST.
    """
    vms, samples = data.shape
    design = np.vstack([np.ones(samples), data]).T
    # Every sub-regression's normal equations are a sub-matrix of one Gram matrix, each entry
    # summed in sample order (cumsum adds sequentially, as Java's loop does).
    gram = np.cumsum(design[:, :, None] * design[:, None, :], axis=0)[-1]
    r2 = np.empty(vms)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for i in range(vms):
            columns = [0] + [j + 1 for j in range(vms) if j != i]
            coefficients = _gauss_jordan(gram[np.ix_(columns, columns)], gram[columns, i + 1])
            y = data[i]
            fitted = np.zeros(samples)
            for k, column in enumerate(columns):
                fitted = fitted + design[:, column] * coefficients[k]
            residual = y - fitted
            ssr = np.cumsum(residual * residual)[-1]
            mean = np.cumsum(y)[-1] / samples
            sst = np.cumsum((y - mean) * (y - mean))[-1]
            r2[i] = 1 - ssr / sst
    return r2


def _gauss_jordan(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve ``a x = b`` as the stand-in's ``solve``: pivot on the first largest |value| at or below
    the diagonal (a NaN never wins a comparison), eliminate every other row, no singularity check."""
    size = len(b)
    m = np.hstack([a, b[:, None]])
    for c in range(size):
        column = np.abs(m[c:, c])
        pivot = c
        if not np.isnan(column[0]):
            pivot = c + int(np.argmax(np.where(np.isnan(column), -1.0, column)))
        if pivot != c:
            m[[c, pivot]] = m[[pivot, c]]
        others = np.arange(size) != c
        factor = m[others, c] / m[c, c]
        m[others, c:] -= factor[:, None] * m[c, c:]
    return m[:, size] / np.diagonal(m)[:size]


# stackmeter's own selection, which needs the detector's verdict on the host without each VM and
# so runs only in the compiled decision step (decision.py): ``fit``, the VM with the least RAM
# among those whose removal alone ends the overload, MMT when none does.
DETECTOR_AWARE_SELECTIONS = frozenset({"fit"})

SELECTORS: dict[str, Selector] = {
    "mc": maximum_correlation,
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
