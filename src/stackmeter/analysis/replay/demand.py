"""Decision steps, the VMs' demand at each step under a semantics profile, and when VMs vanish."""

from __future__ import annotations

import numpy as np

from stackmeter.errors import ConfigError
from stackmeter.models.replay import STEP_INTERPOLATE, STEP_SAMPLE, SemanticsProfile


def step_times_s(samples: int, interval_s: float, profile: SemanticsProfile) -> np.ndarray:
    """Return the times of the decision steps ``k = 1 … samples − 1``: ``k·interval + offset``.

    With 288 samples of 300 s and CloudSim's 0.1 s offset: 300.1, 600.1, …, 86 100.1. The step
    at the last sample itself is never processed (CloudSim stops at 86 400 s).
    """
    return np.arange(1, samples) * interval_s + profile.step_offset_s


def step_utilization(utilization: np.ndarray, interval_s: float, profile: SemanticsProfile) -> np.ndarray:
    """Return each VM's utilization at each decision step, ``VMs × (samples − 1)``.

    :data:`STEP_SAMPLE`: step *k* sees sample *k*. :data:`STEP_INTERPOLATE`: the line from sample *k* to
    sample *k* + 1 at the step's time, the last sample held past the end (CloudSim's
    ``UtilizationModelPlanetLabInMemory`` copies sample 287 into a 289th).
    """
    if profile.step_demand == STEP_SAMPLE:
        return utilization[:, 1:]
    if profile.step_demand == STEP_INTERPOLATE:
        held = np.concatenate([utilization, utilization[:, -1:]], axis=1)
        steps = np.arange(1, utilization.shape[1])
        into_interval_s = step_times_s(utilization.shape[1], interval_s, profile) - steps * interval_s
        start = held[:, 1:-1]
        slope = (held[:, 2:] - start) / interval_s
        return start + slope * into_interval_s
    raise ConfigError(f"unknown step demand {profile.step_demand!r}", where="semantics")


def vanish_steps(step_requested_mips: np.ndarray, profile: SemanticsProfile) -> np.ndarray:
    """Return, per VM, the index of the step at which it leaves the simulation (steps if never).

    Under ``vanish_at_zero`` a VM requesting exactly 0 MIPS at a step is removed after that
    step's accounting, for good. Without migrations, a VM's requests are known in advance, so
    this is the first zero of its row.
    """
    steps = step_requested_mips.shape[1]
    if not profile.vanish_at_zero:
        return np.full(step_requested_mips.shape[0], steps, dtype=np.intp)
    zero = step_requested_mips == 0
    return np.where(zero.any(axis=1), zero.argmax(axis=1), steps)


def simulated_steps(vanish: np.ndarray, steps: int, profile: SemanticsProfile) -> int:
    """Return how many steps CloudSim processes: all, or up to the step at which the last VM vanished.

    CloudSim schedules the next step only while some VM has work with a finite end; at a step
    where every VM left requests 0 MIPS none has, so that step is the last one processed.
    """
    if not profile.vanish_at_zero or len(vanish) == 0 or (vanish >= steps).any():
        return steps
    return int(vanish.max()) + 1
