"""VM selection of CloudSim 3.0: which VM leaves an overloaded host next (MMT, MU, RS, MC)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numba
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
    Compiled: MC asks it once for every VM it takes off a host.
    """
    return _r_squared(np.ascontiguousarray(data, dtype=np.float64))


@numba.njit(cache=True, error_model="numpy")
def _r_squared(data: np.ndarray) -> np.ndarray:
    """:func:`correlation_coefficients`, each sum added in sample order."""
    vms, samples = data.shape
    width = vms + 1
    design = np.ones((samples, width))
    design[:, 1:] = data.T
    # Every sub-regression's normal equations are a sub-matrix of one Gram matrix.
    gram = np.zeros((width, width))
    for t in range(samples):
        for u in range(width):
            for v in range(width):
                gram[u, v] += design[t, u] * design[t, v]
    r2 = np.empty(vms)
    columns = np.empty(vms, dtype=np.int64)
    for i in range(vms):
        columns[0] = 0
        k = 1
        for j in range(vms):
            if j != i:
                columns[k] = j + 1
                k += 1
        normal = np.empty((vms, vms))
        moments = np.empty(vms)
        for r in range(vms):
            moments[r] = gram[columns[r], i + 1]
            for c in range(vms):
                normal[r, c] = gram[columns[r], columns[c]]
        coefficients = _gauss_jordan(normal, moments)
        fitted = np.zeros(samples)
        for k in range(vms):
            for t in range(samples):
                fitted[t] = fitted[t] + design[t, columns[k]] * coefficients[k]
        ssr = 0.0
        total = 0.0
        for t in range(samples):
            residual = data[i, t] - fitted[t]
            ssr += residual * residual
            total += data[i, t]
        mean = total / samples
        sst = 0.0
        for t in range(samples):
            sst += (data[i, t] - mean) * (data[i, t] - mean)
        r2[i] = 1 - ssr / sst
    return r2


@numba.njit(cache=True, error_model="numpy")
def _gauss_jordan(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Solve ``a x = b`` as the stand-in's ``solve``: pivot on the first largest |value| at or below
    the diagonal (a NaN never wins a comparison), eliminate every other row, no singularity check."""
    size = len(b)
    m = np.empty((size, size + 1))
    m[:, :size] = a
    m[:, size] = b
    for c in range(size):
        pivot = c
        if not np.isnan(m[c, c]):
            best = -2.0
            for r in range(c, size):
                value = np.abs(m[r, c])
                value = -1.0 if np.isnan(value) else value
                if value > best:
                    best, pivot = value, r
        if pivot != c:
            for j in range(size + 1):
                m[c, j], m[pivot, j] = m[pivot, j], m[c, j]
        for r in range(size):
            if r != c:
                factor = m[r, c] / m[c, c]
                for j in range(c, size + 1):
                    m[r, j] -= factor * m[c, j]
    x = np.empty(size)
    for r in range(size):
        x[r] = m[r, size] / m[r, r]
    return x


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
