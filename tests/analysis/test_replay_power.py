"""SPECpower curves, CloudSim's load rounding and the energy of an interval, against hand numbers."""

from __future__ import annotations

import numpy as np
import pytest

from stackmeter.analysis.replay.power import host_load, interval_energy_j, power_table_w, power_w
from stackmeter.models import PowerCurve

# HP ProLiant ML110 G4 and G5 (SPECpower_ssj2008, as CloudSim's power models hold them).
G4 = PowerCurve((86, 89.4, 92.6, 96, 99.5, 102, 106, 108, 112, 114, 117))
G5 = PowerCurve((93.7, 97, 101, 105, 110, 116, 121, 125, 129, 133, 135))
TABLE = power_table_w([G4, G5])


@pytest.mark.parametrize(
    ("curve", "load", "watts"),
    [
        (0, 0.0, 86),
        (0, 0.05, 87.7),  # halfway between 86 and 89.4
        (0, 0.3, 96),
        (0, 0.75, 110),  # halfway between 108 and 112
        (0, 1.0, 117),
        (1, 0.0, 93.7),
        (1, 0.42, 111.2),  # 110 + (116 − 110)·0.2
        (1, 0.99, 134.8),  # 133 + 2·0.9
        (1, 1.0, 135),
        (0, 1.5, 117),  # above full load: full-load watts
    ],
)
def test_power_between_points_is_linear(curve, load, watts):
    assert power_w(TABLE, np.array([curve]), np.array([load]))[0] == pytest.approx(watts)


def test_power_at_every_point_is_the_curve():
    loads = np.arange(11) / 10
    assert power_w(TABLE, np.zeros(11, dtype=int), loads) == pytest.approx(G4.watts)
    assert power_w(TABLE, np.ones(11, dtype=int), loads) == pytest.approx(G5.watts)


def test_load_within_one_percent_above_full_reads_full():
    load = host_load(np.array([3720.0, 3740.0, 3800.0]), np.array([3720.0, 3720.0, 3720.0]))
    assert load[0] == 1 and load[1] == 1 and load[2] == pytest.approx(3800 / 3720)


def test_interval_energy_is_the_mean_draw_or_nothing_from_idle():
    # (96 + 117)/2·300 = 31 950 J; a host idle at the start is off for the whole interval.
    energy = interval_energy_j(
        load_from=np.array([0.3, 0.0]),
        watts_from=np.array([96.0, 86.0]),
        watts_to=np.array([117.0, 117.0]),
        dt_s=np.array([300.0, 300.0]),
    )
    assert energy.tolist() == [31_950, 0]
