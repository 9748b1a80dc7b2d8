"""The overload rule and report on hand-made window counts: the edges of share, latest window, ranking."""

from __future__ import annotations

import numpy as np
import pytest

from stackmeter.analysis.overload import (
    check_share,
    detect_overloaded,
    fleet_windows,
    summarize_multi_resource,
    summarize_overload,
)
from stackmeter.errors import ConfigError
from stackmeter.models import ResourceCoverage, WindowCounts

NAMES = np.array(["a", "b", "c"], dtype=object)
H = np.datetime64("2013-08-01T00:00", "ns")


def hours(*offsets):
    return H + np.array(offsets, dtype=np.int64) * np.timedelta64(1, "h")


def counts(entity, window, samples, at_or_above, entity_windows=(4, 4, 2), last_hour=3, fleet=None):
    """Hand-made counts; ``fleet`` maps an hour to (entities, samples) reported in it, by default
    two entities with a whole hour of 5-minute samples each in every hour."""
    fleet = fleet if fleet is not None else {hour: (2, 24) for hour in range(last_hour + 1)}
    return WindowCounts(
        "1h", "cpu", 0.8, NAMES, np.array(entity_windows), np.array(entity), hours(*window),
        np.array(samples), np.array(at_or_above), H, hours(last_hour)[0],
        hours(*fleet), np.array([e for e, _ in fleet.values()]), np.array([n for _, n in fleet.values()]),
    )  # fmt: skip


def coverage(last_ts="2013-08-01T03:55", step_s=300.0):
    return ResourceCoverage("cpu", 3, 1, 100, H, np.datetime64(last_ts, "ns"), step_s)


def test_share_exactly_reached_is_overloaded():
    c = counts([0, 1], [0, 0], [20, 20], [1, 0])
    entity, window = detect_overloaded(c, 0.05)  # 1/20 = 0.05
    assert list(entity) == [0]


def test_report_fields():
    c = counts([0, 0, 1, 2], [0, 3, 3, 1], [12, 12, 12, 12], [12, 1, 6, 0])
    cell = summarize_overload(c, coverage(), share=0.05, top=10)
    assert cell.windows == 4
    assert cell.overloaded_ever == 2
    assert cell.overloaded_mean == pytest.approx(3 / 4)
    assert (cell.overloaded_max, cell.worst_window) == (2, hours(3)[0])
    assert cell.latest_window == hours(3)[0]  # ends 04:00 <= 03:55 + 5 min
    assert cell.overloaded_latest == 2
    assert [(w.entity, w.share) for w in cell.worst] == [("a", 0.5), ("b", 0.25)]
    assert (cell.entities, cell.without_capacity) == (3, 1)
    assert cell.trend_per_window == pytest.approx(np.polyfit(np.arange(4), [1, 0, 0, 2], 1)[0])


def test_an_incomplete_last_window_is_not_the_latest():
    c = counts([0], [3], [6], [6])
    cell = summarize_overload(c, coverage(last_ts="2013-08-01T03:25"), share=0.05)
    assert cell.latest_window == hours(2)[0]
    assert cell.overloaded_latest == 0


def test_nothing_judged():
    c = WindowCounts(
        "1d",
        "disk",
        0.8,
        NAMES,
        np.zeros(3, int),
        *(np.array([], t) for t in (int, "datetime64[ns]", int, int)),
        None,
        None,
        *(np.array([], t) for t in ("datetime64[ns]", int, int)),
    )
    cell = summarize_overload(c, ResourceCoverage("disk", 3, 3, 10, None, None, 300.0), 0.05)
    assert (cell.entities, cell.without_capacity, cell.windows, cell.overloaded_ever) == (3, 3, 0, 0)


def test_multi_resource_counts_entities_overloaded_in_two_resources_at_once():
    cpu = (np.array([0, 0, 1]), hours(0, 1, 1))
    memory = (np.array([0, 1, 2]), hours(1, 2, 1))
    disk = (np.array([0]), hours(1))
    multi = summarize_multi_resource("1h", [cpu, memory, disk], NAMES)
    assert (multi.entities, multi.entity_windows, multi.worst) == (1, 1, (("a", 1),))


@pytest.mark.parametrize("share", [0, -0.1, 1.01, float("nan")])
def test_share_out_of_range(share):
    with pytest.raises(ConfigError, match="share"):
        check_share(share)


def test_a_window_short_of_samples_is_partial_and_left_out_of_latest_and_trend():
    # hour 3 ended (03:55 + 5 min) but holds 11 of the 24 samples its 2 entities give in an hour
    c = counts(
        [0, 0, 1, 2],
        [0, 3, 3, 1],
        [12, 12, 12, 12],
        [12, 1, 6, 0],
        fleet={0: (2, 24), 1: (2, 24), 2: (2, 24), 3: (2, 11)},
    )
    cell = summarize_overload(c, coverage(), share=0.05)
    assert cell.windows_partial == 1
    assert (cell.latest_window, cell.overloaded_latest) == (hours(2)[0], 0)
    assert cell.trend_per_window == pytest.approx(np.polyfit([0, 1, 2], [1, 0, 0], 1)[0])
    # the counts over all windows still hold the partial one
    assert (cell.overloaded_max, cell.worst_window) == (2, hours(3)[0])
    assert cell.overloaded_mean == pytest.approx(3 / 4)


def test_exactly_half_the_samples_is_complete():
    c = counts([0], [3], [12], [12], fleet={0: (2, 24), 1: (2, 24), 2: (2, 24), 3: (2, 12)})
    cell = summarize_overload(c, coverage(), share=0.05)
    assert (cell.windows_partial, cell.latest_window, cell.overloaded_latest) == (0, hours(3)[0], 1)


def test_a_gap_is_partial_and_the_latest_goes_back_past_partial_windows():
    c = counts([0], [0], [12], [12], fleet={0: (2, 24), 2: (1, 1), 3: (2, 3)})
    fleet = fleet_windows(c, coverage(), share=0.05)
    assert list(fleet.entities) == [2, 0, 1, 2]
    assert list(fleet.samples) == [24, 0, 1, 3]
    assert list(fleet.expected_samples) == [24, 0, 12, 24]
    assert list(fleet.complete) == [True, False, False, False]
    assert list(fleet.overloaded) == [1, 0, 0, 0]
    cell = summarize_overload(c, coverage(), share=0.05, fleet=fleet)
    assert (cell.windows_partial, cell.latest_window, cell.overloaded_latest) == (3, H, 1)
    assert cell.trend_per_window is None  # one complete window


def test_without_a_known_step_only_the_end_decides():
    c = counts([0], [3], [6], [6], fleet={0: (2, 1), 3: (1, 1)})
    cell = summarize_overload(c, coverage(last_ts="2013-08-01T03:25", step_s=None), share=0.05)
    assert cell.windows_partial == 3  # hours 1 and 2 hold no sample, hour 3 has not ended by 03:25
    assert cell.latest_window == H
