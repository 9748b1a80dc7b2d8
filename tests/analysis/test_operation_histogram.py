"""Duration histograms per operation: against numpy.histogram over the durations a stream planted."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from benchmarks.notification_stream import build_stream

from stackmeter.analysis.operation_stats import (
    DURATION_EDGES_S,
    MAX_DURATION_EDGES,
    check_duration_edges,
    duration_histogram,
)
from stackmeter.analysis.pairing import events_frame, pair_operations
from stackmeter.errors import ConfigError
from stackmeter.models import MAX_DURATION_S, Event
from stackmeter.sources.notifications import parse_messages
from tests.analysis.test_operation_stats import operations

RECEIVED = np.datetime64("2026-03-04T00:00:00", "ns")


@pytest.fixture(scope="module")
def stream():
    return build_stream(400, seed=21, malformed=0)


def paired(stream):
    """The operations stackmeter pairs from the stream's messages, as ``operation_timings`` does."""
    events, _ = parse_messages((body for _, body in stream.messages), "test", RECEIVED)
    assert all(isinstance(event, Event) for event in events)
    as_of = np.datetime64(stream.last_ts.replace(tzinfo=None), "ns")
    return pair_operations(events_frame(events), as_of)


def planted_durations(stream, outcome: str) -> dict[str, list[float]]:
    """Durations the stream planted, per operation, of one outcome: computed by the stream's builder
    from each operation's own messages, not by stackmeter."""
    found: dict[str, list[float]] = {}
    for planted in stream.planted:
        if planted.outcome == outcome and planted.duration_s is not None:
            found.setdefault(planted.operation, []).append(planted.duration_s)
    return found


@pytest.mark.parametrize("edges_s", [DURATION_EDGES_S, (1.0, 10.0, 60.0, 600.0), (300.0,)])
def test_counts_per_bin_are_numpy_histograms_of_the_planted_durations(stream, edges_s):
    histogram = duration_histogram(paired(stream), edges_s)
    bins = np.array([0.0, *edges_s, math.inf])  # numpy's bins are left-closed, the last one up to inf
    for outcome, counts in (("success", histogram.success), ("error", histogram.error)):
        planted = planted_durations(stream, outcome)
        for name, row in zip(histogram.operations, counts, strict=True):
            expected, _ = np.histogram(planted.get(name, []), bins=bins)
            assert list(row) == expected.tolist(), (outcome, name)
        assert set(planted) <= set(histogram.operations)
    assert histogram.edges_s == (0.0, *edges_s)


def test_p50_and_p95_are_quantiles_of_the_planted_successful_durations(stream):
    histogram = duration_histogram(paired(stream))
    planted = planted_durations(stream, "success")
    for name, p50, p95 in zip(histogram.operations, histogram.p50_s, histogram.p95_s, strict=True):
        if name not in planted:
            assert p50 is None and p95 is None
            continue
        assert p50 == pytest.approx(np.quantile(planted[name], 0.5), rel=1e-12)
        assert p95 == pytest.approx(np.quantile(planted[name], 0.95), rel=1e-12)


def test_operations_come_most_durations_first(stream):
    histogram = duration_histogram(paired(stream))
    totals = [sum(ok) + sum(failed) for ok, failed in zip(histogram.success, histogram.error, strict=True)]
    assert totals == sorted(totals, reverse=True) and len(histogram.operations) >= 8
    # Every operation has at least one duration; one whose every attempt stayed open is left out.
    assert min(totals) >= 1


# (operation, start 'HH:MM', duration_s or None, outcome, host, started), as test_operation_stats builds them.
EDGE_ROWS = [
    ("create", "10:00", 0.0, "success", "a", True),  # no time at all: the first bin, from 0 s
    ("create", "10:01", 0.1, "success", "a", True),  # on an edge: the bin it starts
    ("create", "10:02", 86400.0, "success", "a", True),  # a day: the open-ended last bin
    ("create", "10:03", 3 * 86400.0, "success", "a", True),
    ("create", "10:04", 4.0, "error", "a", True),  # a failure, timed to its .error
    ("create", "10:05", None, "timed_out", "a", True),  # no duration: in neither
    ("create", "10:06", None, "running", "a", True),
    ("create", "10:07", 7.0, "success", "a", False),  # an end without a start: no duration
    ("delete", "10:08", None, "timed_out", "a", True),  # an operation without any duration
]


def test_edges_zero_and_the_open_ended_bin():
    histogram = duration_histogram(operations(EDGE_ROWS))
    assert histogram.operations == ("create",)
    success, error = histogram.success[0], histogram.error[0]
    assert success[0] == 1 and success[1] == 1 and success[-1] == 2 and sum(success) == 4
    assert error[DURATION_EDGES_S.index(2.0) + 1] == 1 and sum(error) == 1  # 4 s is in [2 s, 5 s)
    assert histogram.p50_s[0] == pytest.approx(np.quantile([0.0, 0.1, 86400.0, 3 * 86400.0], 0.5))


def test_no_operations_give_the_bins_and_no_rows():
    histogram = duration_histogram(operations([]))
    assert histogram.edges_s == (0.0, *DURATION_EDGES_S)
    assert histogram.operations == histogram.success == histogram.error == histogram.p50_s == ()


def test_the_default_bins_grow_two_to_three_times_from_100_ms_to_a_day():
    ratios = np.diff(np.log(DURATION_EDGES_S))
    assert DURATION_EDGES_S[0] == 0.1 and DURATION_EDGES_S[-1] == 86400.0
    assert np.all(ratios >= np.log(2) - 1e-12) and np.all(ratios <= np.log(3) + 1e-12)


@pytest.mark.parametrize(
    "edges_s, reason",
    [
        ((), "1 to 100"),
        ((1.0,) * 2, "increase"),
        ((5.0, 2.0), "increase"),
        ((0.0, 1.0), "above 0"),
        ((-1.0,), "above 0"),
        ((math.nan,), "above 0"),
        ((math.inf,), "above 0"),
        ((MAX_DURATION_S * 2,), "above 0"),
        (tuple(float(i) for i in range(1, MAX_DURATION_EDGES + 2)), "1 to 100"),
    ],
)
def test_bad_edges_are_refused_naming_bins(edges_s, reason):
    with pytest.raises(ConfigError, match=reason) as raised:
        check_duration_edges(edges_s)
    assert raised.value.where == "bins" and str(raised.value).startswith("bins:")


def test_counts_do_not_depend_on_the_order_of_the_rows(stream):
    frame = paired(stream)
    shuffled = frame.sample(frac=1.0, random_state=3).reset_index(drop=True)
    assert duration_histogram(shuffled) == duration_histogram(frame)
    assert isinstance(frame, pd.DataFrame)
