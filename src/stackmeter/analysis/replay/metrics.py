"""Replay metrics as CloudSim's ``Helper`` computes them: SLATAH, PDM, host shutdowns."""

from __future__ import annotations

import numpy as np


def slatah(
    active: np.ndarray, allocated_mips: np.ndarray, requested_mips: np.ndarray, time_s: np.ndarray
) -> float:
    """Return the share of active host time with allocated < requested MIPS, pooled over hosts.

    Host arrays are ``hosts × events``. Each event's state holds until the next event (the last
    one holds for no time), and only time that starts active counts: CloudSim's
    ``getSlaTimePerActiveHost``. NaN when no host was ever active.

    :param time_s: the events' times, ascending
    """
    dt_s = np.diff(time_s)
    counted = active[:, :-1]
    total_s = float((counted * dt_s).sum())
    short_s = float(((counted & (allocated_mips[:, :-1] < requested_mips[:, :-1])) * dt_s).sum())
    return short_s / total_s if total_s > 0 else float("nan")


def memory_overload(active: np.ndarray, out_of_memory: np.ndarray, time_s: np.ndarray) -> float:
    """Return the share of active host time with the VMs' memory in use above the host's RAM.

    ``hosts × events`` masks, pooled and timed as :func:`slatah` (each event's state holds until
    the next one). NaN when no host was ever active.
    """
    dt_s = np.diff(time_s)
    counted = active[:, :-1]
    total_s = float((counted * dt_s).sum())
    short_s = float(((counted & out_of_memory[:, :-1]) * dt_s).sum())
    return short_s / total_s if total_s > 0 else float("nan")


def pdm(
    requested_mips: np.ndarray, allocated_mips: np.ndarray, in_migration: np.ndarray, held_s: np.ndarray
) -> float:
    """Return MIPS·s requested but not allocated during migrations ÷ MIPS·s requested, pooled over VMs.

    Per VM history entry: its request, its allocation, whether it was migrating, and how long
    it held until the VM's next entry (0 for a VM's last): CloudSim's ``getSlaMetrics``
    ("underallocated_migration"). NaN when nothing was requested.
    """
    requested_mips_s = float((requested_mips * held_s).sum())
    lost = in_migration & (allocated_mips < requested_mips)
    lost_mips_s = float(((requested_mips - allocated_mips) * held_s)[lost].sum())
    return lost_mips_s / requested_mips_s if requested_mips_s > 0 else float("nan")


def host_shutdowns(active: np.ndarray, time_s: np.ndarray) -> tuple[int, float]:
    """Return the number of active-to-idle transitions and the mean time a host was on before one.

    Every host counts as active before the first event, switched on at time 0, so a host idle
    from the start is one shutdown at the first event (CloudSim's ``getTimesBeforeHostShutdown``).
    The mean is NaN without shutdowns.
    """
    before = np.concatenate([np.ones((active.shape[0], 1), dtype=bool), active[:, :-1]], axis=1)
    shutdown = before & ~active
    switched_on_s = np.where(~before & active, time_s, 0.0)
    # Times ascend, so the running maximum is the time of the latest switch-on.
    on_since_s = np.maximum.accumulate(switched_on_s, axis=1)
    on_for_s = (time_s - on_since_s)[shutdown]
    return int(shutdown.sum()), float(on_for_s.mean()) if on_for_s.size else float("nan")
