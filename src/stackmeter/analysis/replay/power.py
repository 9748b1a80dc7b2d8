"""Host power from CPU load (SPECpower points, linear between) and the energy of an interval."""

from __future__ import annotations

import numba
import numpy as np

from stackmeter.models.replay import POWER_CURVE_POINTS, PowerCurve

# CloudSim forgives a load up to 1 % above full (rounding of allocations) and reads it as full.
_FORGIVEN_OVERLOAD = 1.01


def power_table_w(curves: list[PowerCurve] | tuple[PowerCurve, ...]) -> np.ndarray:
    """Return the curves as one ``curves × 11`` float array of watts."""
    return np.array([curve.watts for curve in curves], dtype=np.float64).reshape(-1, POWER_CURVE_POINTS)


def host_load(allocated_mips: np.ndarray, capacity_mips: np.ndarray) -> np.ndarray:
    """Return allocated ÷ capacity, with CloudSim's rounding rule: loads in (1, 1.01) read as 1."""
    load = allocated_mips / capacity_mips
    return np.where((load > 1) & (load < _FORGIVEN_OVERLOAD), 1.0, load)


# Inlined into its callers: a call of a cached compiled function costs more than its arithmetic.
@numba.njit(cache=True, error_model="numpy", inline="always")
def host_power_w(table_w: np.ndarray, curve: int, load: float) -> float:
    """Watts of one host of power curve ``curve`` (a row of ``table_w``) at ``load``, as CloudSim computes them.

    SPECpower points every 10 %, linear between; above full load the host draws its full-load watts.
    """
    load = min(load, 1.0)
    # The same arithmetic as CloudSim, in the same order, so that energies agree to the last digits.
    scaled = load * 10
    low = np.floor(scaled)
    high = np.ceil(scaled)
    low_w = table_w[curve, int(low)]
    high_w = table_w[curve, int(high)]
    return low_w + (high_w - low_w) / 10 * (load - low / 10) * 100


@numba.njit(cache=True, error_model="numpy")
def _hosts_power_w(table_w: np.ndarray, curve: np.ndarray, load: np.ndarray) -> np.ndarray:
    """:func:`host_power_w` of each (curve, load) pair."""
    watts = np.empty(len(load))
    for i in range(len(load)):
        watts[i] = host_power_w(table_w, curve[i], load[i])
    return watts


def power_w(table_w: np.ndarray, curve: np.ndarray, load: np.ndarray) -> np.ndarray:
    """Return the watts of each host at ``load``, as CloudSim's ``PowerModelSpecPower`` computes them.

    :param table_w: ``curves × 11`` watts (:func:`power_table_w`)
    :param curve: the row of ``table_w`` of each host, broadcastable against ``load``
    :param load: CPU load, a fraction ≥ 0; above 1 the host draws its full-load watts
    """
    load, curve = np.broadcast_arrays(np.asarray(load, dtype=np.float64), np.asarray(curve, dtype=np.int64))
    watts = _hosts_power_w(
        np.ascontiguousarray(table_w, dtype=np.float64),
        np.ascontiguousarray(curve).reshape(-1),
        np.ascontiguousarray(load).reshape(-1),
    )
    return watts.reshape(load.shape)


def interval_energy_j(
    load_from: np.ndarray,
    watts_from: np.ndarray,
    watts_to: np.ndarray,
    dt_s: np.ndarray,
    on_from: np.ndarray | None = None,
) -> np.ndarray:
    """Return the joules of each host over intervals, CloudSim's ``getEnergyLinearInterpolation``.

    The mean of the draws at both ends times the length, or 0 when the host was off at the start
    of the interval. ``on_from`` says which hosts were on; by default those with some load
    (CloudSim's rule: an idle host is off, at 0 W).
    """
    on = load_from > 0 if on_from is None else on_from
    return np.where(on, (watts_from + (watts_to - watts_from) / 2) * dt_s, 0.0)
