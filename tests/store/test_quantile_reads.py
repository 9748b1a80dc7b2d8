"""The quantile read path: windows per entity (from the totals kept at write time, a level's rows,
or raw samples) against pandas, and histograms or raw quantiles of a few entities, which are
those entities' rows of the answer for every entity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from stackmeter import operations
from stackmeter.models import RAW
from stackmeter.store import open_store
from stackmeter.store.duckdb import report_totals
from stackmeter.store.duckdb.schema import RESOURCE_CODES
from tests.quantile_store import ALPHA, project_of, read_traces, windows_per_entity, write_traces
from tests.store.sql import connection_of

DAY_S = 86_400.0


@pytest.fixture(scope="module")
def traces():
    with open_store(":memory:") as store:
        write_traces(store)
        yield store, read_traces()


@pytest.mark.parametrize(
    "resource, timescale, level",
    [("cpu", "5m", "5m"), ("cpu", "1h", "1h"), ("memory", "1d", "1d"), ("cpu", "1w", "1d"), ("memory", "1mo", "1d")],
)  # fmt: skip
def test_windows_per_entity_are_those_of_the_samples_on_every_path(traces, resource, timescale, level):
    """From the totals kept at write time (whole store), a scan of the level (a project's reader,
    which sees no totals) and, raw, from the level as long as nothing was compacted."""
    store, raw = traces
    expected = windows_per_entity(raw, resource, timescale)
    assert len(expected) == (53 if resource == "cpu" else 4)
    kept = report_totals.entity_windows(connection_of(store), timescale, RESOURCE_CODES[resource])
    assert kept is not None and kept["windows"].sum() == sum(expected.values())
    for served_by in (level, RAW):
        assert store.read_quantile_windows(timescale, resource, served_by) == expected
    alpha = {entity: n for entity, n in expected.items() if project_of(entity) == ALPHA}
    reader = store.reader(ALPHA)
    try:
        for served_by in (level, RAW):
            assert reader.read_quantile_windows(timescale, resource, served_by) == alpha
    finally:
        reader.close()


def test_after_compaction_raw_windows_are_counted_from_the_samples_left(traces):
    _, raw = traces
    with open_store(":memory:") as store:
        write_traces(store)
        summary = operations.compact(store, {"raw": 20 * DAY_S, "5m": 20 * DAY_S})
        left = raw[raw["ts"] >= pd.Timestamp(summary.raw_before)]
        # the 5m level keeps the windows from the one holding its horizon on; 1h and 1d keep all
        in_5m = raw[raw["ts"] >= pd.Timestamp(summary.rollup_before["5m"])]
        for timescale, level, held in (("1h", "1h", raw), ("1w", "1d", raw), ("5m", "5m", in_5m)):
            assert store.read_quantile_windows(timescale, "cpu", RAW) == windows_per_entity(
                left, "cpu", timescale
            )
            assert store.read_quantile_windows(timescale, "cpu", level) == windows_per_entity(
                held, "cpu", timescale
            )
        assert store.read_quantile_windows("1w", "cpu", RAW) != store.read_quantile_windows("1w", "cpu", "1d")


@pytest.mark.parametrize("timescale, level", [("1h", "1h"), ("1w", "1d")])
def test_a_few_entities_read_their_rows_of_the_whole_answer(traces, timescale, level):
    store, _ = traces
    chosen = ("196", "nope", "146-179_surfsnel_dsl_internl_net_root", "41")
    whole = store.read_histograms(timescale, "cpu", None, level)
    few = store.read_histograms(timescale, "cpu", chosen, level)
    keep = np.isin(whole.entity, chosen)
    assert set(few.entity) == set(chosen) - {"nope"}
    # window by window, the same samples, extremes and histogram
    for name in set(chosen) - {"nope"}:
        a, b = np.flatnonzero(whole.entity == name), np.flatnonzero(few.entity == name)
        for field in ("window", "samples", "minimum", "maximum"):
            np.testing.assert_array_equal(getattr(few, field)[b], getattr(whole, field)[a])
        for i, j in zip(a, b, strict=True):
            span = slice(whole.offsets[i], whole.offsets[i + 1])
            other = slice(few.offsets[j], few.offsets[j + 1])
            np.testing.assert_array_equal(few.bins[other], whole.bins[span])
            np.testing.assert_array_equal(few.counts[other], whole.counts[span])
    assert len(few.entity) == keep.sum()
    raw_whole = store.read_raw_quantiles(timescale, "cpu", 0.9, None)
    raw_few = store.read_raw_quantiles(timescale, "cpu", 0.9, chosen)
    assert sorted(raw_few) == sorted(row for row in raw_whole if row.entity in chosen)
    assert store.read_raw_quantiles(timescale, "cpu", 0.9, ()) == ()
    assert len(store.read_histograms(timescale, "cpu", (), level).entity) == 0
